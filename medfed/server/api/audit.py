"""The audit trail, for administrators."""

from __future__ import annotations

from fastapi import APIRouter, Query

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.server.api.schemas import AuditEventPublic, AuditVerdictPublic
from medfed.server.bounds import MAX_INT
from medfed.server.deps import AdminUser, DbSession
from medfed.server.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEventPublic])
def list_events(
    _: AdminUser,
    db: DbSession,
    limit: int = Query(100, ge=1, le=1000),
    before_seq: int | None = Query(None, ge=1, le=MAX_INT),
    action: str | None = Query(None, max_length=60),
    actor: str | None = Query(None, max_length=80),
) -> list[AuditEventPublic]:
    events = audit.list_events(db, limit=limit, before_seq=before_seq, action=action, actor=actor)
    return [AuditEventPublic.model_validate(event) for event in events]


@router.post("/verify", response_model=AuditVerdictPublic)
def verify(admin: AdminUser, db: DbSession) -> AuditVerdictPublic:
    verdict = audit.verify(db)
    head = audit.chain_head_hash(db)
    audit.record(
        db,
        actor=audit.user_actor(admin.username),
        action=AuditAction.AUDIT_VERIFIED,
        outcome=Outcome.SUCCESS if verdict.ok else Outcome.FAILURE,
        details={"rows_checked": verdict.rows_checked, "first_bad_seq": verdict.first_bad_seq},
    )
    return AuditVerdictPublic(
        ok=verdict.ok,
        rows_checked=verdict.rows_checked,
        first_bad_seq=verdict.first_bad_seq,
        problem=verdict.problem,
        head_hash=head,
        summary=verdict.describe(),
    )
