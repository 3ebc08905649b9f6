"""The node's side of federated analytics: the questions asked of its hospital, and its part
in each (a decline with the reason, a per-site answer, or the secure sum's messages)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter

from medfed.core.errors import InvalidInput
from medfed.server.api.analytics_schemas import (
    AnalyticsStatusPublic,
    DeclineIn,
    NodeAnalyticsPublic,
    SiteAnswerIn,
)
from medfed.server.bounds import IdPath
from medfed.server.deps import CurrentNode, DbSession, Reading
from medfed.server.services import analytics

router = APIRouter(prefix="/nodes/analytics", tags=["nodes"])


@router.get("", response_model=list[NodeAnalyticsPublic])
async def my_queries(node: CurrentNode, reader: Reading) -> list[dict[str, Any]]:
    """The live queries asked of this node's hospital, with what each needs from it now."""
    return await reader.run_on_thread(lambda db: analytics.for_node(db, node))


@router.post("/{query_id}/decline", response_model=AnalyticsStatusPublic)
def decline(
    query_id: IdPath, body: DeclineIn, node: CurrentNode, db: DbSession
) -> AnalyticsStatusPublic:
    member = analytics.decline(db, node, query_id, body.reason)
    return AnalyticsStatusPublic(query_id=query_id, status=member.status)


@router.post("/{query_id}/answer", response_model=AnalyticsStatusPublic, status_code=201)
def answer(
    query_id: IdPath, body: SiteAnswerIn, node: CurrentNode, db: DbSession
) -> AnalyticsStatusPublic:
    """A per-site answer: this hospital's figures with all of its noise, shown by its name."""
    try:
        vector = base64.b64decode(body.answer, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("answer must be base64.", field="answer") from None
    member = analytics.answer(
        db, node, query_id, vector, epsilon=body.epsilon, delta=body.delta, min_cell=body.min_cell
    )
    return AnalyticsStatusPublic(query_id=query_id, status=member.status)


@router.post("/{query_id}/secagg/{stage}", response_model=AnalyticsStatusPublic, status_code=201)
def secagg_message(
    query_id: IdPath, stage: str, message: dict[str, Any], node: CurrentNode, db: DbSession
) -> AnalyticsStatusPublic:
    """One message of the network-wide secure sum (keys, encrypted shares, the masked answer
    as base64 uint64 with its epsilon and delta, unmasking shares)."""
    member = analytics.join(db, node, query_id, stage, message)
    return AnalyticsStatusPublic(query_id=query_id, status=member.status)
