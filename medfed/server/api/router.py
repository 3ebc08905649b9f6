"""The versioned REST API: every router, in matching order, under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from medfed.server.api import (
    analytics,
    audit,
    auth,
    buffers,
    campaigns,
    deployments,
    hospitals,
    models,
    network,
    node_analytics,
    node_rounds,
    nodes,
    predictions,
    rounds,
    users,
)
from medfed.server.api.schemas import ERROR_RESPONSES

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    # Routes are matched in order, one by one: the doctors' hot path (models, predictions)
    # first, then the nodes' (every step of every round, and every long poll).
    for module in (
        models,
        predictions,
        node_rounds,
        node_analytics,
        nodes,
        auth,
        users,
        hospitals,
        network,
        rounds,
        campaigns,
        analytics,
        buffers,
        audit,
        deployments,
    ):
        router.include_router(module.router)
    return router
