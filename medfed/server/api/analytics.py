"""Federated analytics for data scientists and administrators: ask a question of the
hospitals, follow it, read and export what was released."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from medfed.analytics import export
from medfed.server.api.analytics_schemas import (
    AnalyticsAskIn,
    AnalyticsMemberPublic,
    AnalyticsQueryPublic,
    StandardisedPublic,
    StandardiseIn,
)
from medfed.server.bounds import IdPath
from medfed.server.db.analytics_tables import AnalyticsQuery
from medfed.server.deps import DbSession, Reading, ReadingScience, ScienceUser
from medfed.server.services import analytics, audit, standardisation

router = APIRouter(tags=["analytics"])


def query_public(query: AnalyticsQuery) -> AnalyticsQueryPublic:
    return AnalyticsQueryPublic(
        id=query.id,
        disease=query.disease,
        kind=query.kind,
        query=query.query,
        per_site=query.per_site,
        min_hospitals=query.min_hospitals,
        status=query.status,
        stage=(query.secagg or {}).get("stage") if query.status == "aggregating" else None,
        reason=query.reason,
        asked_by=query.asked_by,
        created_at=query.created_at,
        closed_at=query.closed_at,
        hospitals=[
            AnalyticsMemberPublic(
                hospital=m.hospital.name,
                status=m.status,
                reason=m.reason,
                epsilon=m.epsilon if m.status == "answered" else None,
                delta=m.delta if m.status == "answered" else None,
            )
            for m in query.members
        ],
        result=query.result,
    )


@router.post("/analytics", response_model=AnalyticsQueryPublic, status_code=201)
def ask(body: AnalyticsAskIn, user: ScienceUser, db: DbSession) -> AnalyticsQueryPublic:
    """Ask a question of every hospital with an active node. Each answers under its own
    policy; the figures are released when the collection (and the secure sum) ends."""
    return query_public(analytics.ask(db, body.asking(), actor=audit.user_actor(user.username)))


@router.get("/analytics", response_model=list[AnalyticsQueryPublic])
async def list_queries(
    _: ReadingScience, reader: Reading, disease: str | None = None
) -> list[AnalyticsQueryPublic]:
    return await reader.run_on_thread(
        lambda db: [query_public(q) for q in analytics.list_queries(db, disease)]
    )


@router.get("/analytics/{query_id}", response_model=AnalyticsQueryPublic)
async def get_query(query_id: IdPath, _: ReadingScience, reader: Reading) -> AnalyticsQueryPublic:
    return await reader.run_on_thread(lambda db: query_public(analytics.get_query(db, query_id)))


@router.get(
    "/analytics/{query_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export_query(
    query_id: IdPath,
    _: ReadingScience,
    reader: Reading,
    format: Literal["csv", "json"] = Query("csv"),
) -> Response:
    """The released figures as CSV (one row per figure) or JSON (the query and its result)."""
    found = await reader.run_on_thread(lambda db: query_public(analytics.get_query(db, query_id)))
    name = f"medfed-analytics-{query_id}-{found.disease}-{found.kind}"
    if format == "json":
        return Response(
            found.model_dump_json(indent=2),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    return Response(
        export.to_csv(found.result or {}),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.post("/analytics/{query_id}/cancel", response_model=AnalyticsQueryPublic)
def cancel(query_id: IdPath, user: ScienceUser, db: DbSession) -> AnalyticsQueryPublic:
    """Stop a query that has not been released; nothing more is asked or summed."""
    return query_public(analytics.cancel(db, query_id, actor=audit.user_actor(user.username)))


@router.post("/analytics/standardisation", response_model=StandardisedPublic, status_code=201)
def standardise(
    body: StandardiseIn, user: ScienceUser, db: DbSession, request: Request
) -> StandardisedPublic:
    """A new version on the training line whose number features are standardised by released
    network-wide means and standard deviations instead of the public dataset's. It predicts
    exactly as its base; rounds continue from it; doctors get it only once promoted."""
    version = standardisation.from_analytics(
        db,
        request.app.state.artifact_store,
        body.disease,
        body.query_ids,
        actor=audit.user_actor(user.username),
    )
    return StandardisedPublic(
        disease=version.disease,
        version=version.version,
        stage=version.stage,
        base=str(version.provenance["base"]),
        centres=version.provenance["centres"],
    )
