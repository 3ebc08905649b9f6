"""Versions in service: A/B challengers, per-arm usage and outcomes, and artifact export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from medfed.core.catalog import get_disease
from medfed.server.api.model_schemas import (
    ArmsPublic,
    ArmUsagePublic,
    ChallengerIn,
    ChallengerPublic,
)
from medfed.server.db.tables import Challenger
from medfed.server.deps import CurrentUser, DbSession, ScienceUser
from medfed.server.services import ab, audit, registry

router = APIRouter(prefix="/models", tags=["models"])


def _challenger_public(challenger: Challenger) -> ChallengerPublic:
    return ChallengerPublic(
        disease=challenger.disease,
        version=challenger.version.version,
        share=challenger.share,
        started_at=challenger.started_at,
        started_by=challenger.started_by,
    )


@router.put("/{disease}/challenger", response_model=ChallengerPublic)
def set_challenger(
    disease: str, body: ChallengerIn, admin: ScienceUser, db: DbSession
) -> ChallengerPublic:
    """Serve another deployed version to a stable share of doctors (assigned by user id)."""
    challenger = ab.set_challenger(
        db,
        disease,
        body.version,
        body.share,
        reason=body.reason,
        actor=audit.user_actor(admin.username),
    )
    return _challenger_public(challenger)


@router.delete("/{disease}/challenger", status_code=204)
def end_challenger(
    disease: str,
    admin: ScienceUser,
    db: DbSession,
    reason: Annotated[str, Query(min_length=5, max_length=500, description="Why; audited.")],
) -> Response:
    """End the A/B test: every doctor is served the active version again."""
    ab.end_challenger(db, disease, actor=audit.user_actor(admin.username), reason=reason)
    return Response(status_code=204)


@router.get("/{disease}/arms", response_model=ArmsPublic)
def arms(disease: str, _: CurrentUser, db: DbSession) -> ArmsPublic:
    """Predictions served and outcomes recorded per version and arm."""
    spec = get_disease(disease)
    challenger = ab.get_challenger(db, spec.id)
    return ArmsPublic(
        disease=spec.id,
        active_version=registry.active_version(db, spec.id).version,
        challenger=_challenger_public(challenger) if challenger else None,
        usage=[ArmUsagePublic(**row) for row in ab.arm_usage(db, spec.id)],
    )


@router.get(
    "/{disease}/versions/{version}/artifact",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def artifact(
    disease: str, version: str, _: ScienceUser, db: DbSession, request: Request
) -> Response:
    """A version's artifact (preprocessing statistics and weights) for offline evaluation."""
    found = registry.find_version(db, get_disease(disease).id, version)
    return Response(
        request.app.state.artifact_store.get(found.artifact_key),
        media_type="application/octet-stream",
        headers={"X-MedFed-Artifact-SHA256": found.artifact_key},
    )
