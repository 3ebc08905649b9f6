"""Append to and verify the hash-chained audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.audit_chain import AuditRecord, ChainVerdict, seal, verify_chain
from medfed.core.clock import isoformat, utcnow
from medfed.server.db.tables import AuditEvent, AuditHead

SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"


def record(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    object: str | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction.

    Incrementing the head row first takes its row lock (PostgreSQL) or the write lock (SQLite),
    so concurrent appends are serialised and sequence numbers stay gapless even on rollback.
    """
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    ).one()
    sealed = seal(
        AuditRecord(
            seq=head.last_seq,
            occurred_at=isoformat(utcnow()),
            actor=actor,
            action=str(action),
            object=object,
            outcome=str(outcome),
            details=_json_safe(details or {}),
            prev_hash=head.last_hash,
        )
    )
    event = AuditEvent(
        seq=sealed.seq,
        occurred_at=sealed.occurred_at,
        actor=sealed.actor,
        action=sealed.action,
        object=sealed.object,
        outcome=sealed.outcome,
        details=dict(sealed.details),
        prev_hash=sealed.prev_hash,
        row_hash=sealed.row_hash,
    )
    session.add(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=sealed.row_hash))
    return event


def _json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    # What is hashed must be exactly what the database gives back.
    return dict(json.loads(json.dumps(dict(details), default=str)))


def _records(session: Session) -> Iterator[AuditRecord]:
    rows = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    ).scalars()
    for row in rows:
        yield AuditRecord(
            seq=row.seq,
            occurred_at=row.occurred_at,
            actor=row.actor,
            action=row.action,
            object=row.object,
            outcome=row.outcome,
            details=row.details,
            prev_hash=row.prev_hash,
            row_hash=row.row_hash,
        )


def verify(session: Session) -> ChainVerdict:
    head = session.get(AuditHead, 1)
    if head is None:
        return ChainVerdict(False, 0, 0, "the chain head row is missing")
    return verify_chain(_records(session), head.last_seq, head.last_hash)


def chain_head_hash(session: Session) -> str:
    head = session.get(AuditHead, 1)
    return head.last_hash if head else ""


def list_events(
    session: Session,
    *,
    limit: int = 100,
    before_seq: int | None = None,
    action: str | None = None,
    actor: str | None = None,
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    return list(session.execute(query).scalars())


def user_actor(username: str) -> str:
    return f"user:{username}"


def node_actor(node_id: int) -> str:
    return f"node:{node_id}"
