"""Server-rendered pages over the same services as the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from medfed.server.web import (
    admin,
    admin_analytics,
    admin_campaigns,
    admin_rounds,
    doctor,
    hospital,
    pages,
    records,
)


def build_pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (
        pages,
        doctor,
        records,
        hospital,
        admin_rounds,
        admin_campaigns,
        admin_analytics,
        admin,
    ):
        router.include_router(module.router)
    return router
