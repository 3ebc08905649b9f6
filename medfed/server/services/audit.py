"""Append to and verify the hash-chained audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.audit_chain import AuditRecord, ChainVerdict, seal, verify_chain
from medfed.core.clock import isoformat, utcnow
from medfed.server.db.base import Base
from medfed.server.db.group_commit import BatchWriter
from medfed.server.db.tables import AuditEvent, AuditHead

SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"


@dataclass(frozen=True)
class Entry:
    """One event to append: who did what to which object, and how it went."""

    actor: str
    action: AuditAction
    object: str | None = None
    outcome: Outcome = Outcome.SUCCESS
    details: Mapping[str, Any] | None = None


def record(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    object: str | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction; its sequence number."""
    (seq,) = append(session, [Entry(actor, action, object, outcome, details)])
    return seq


def append(session: Session, entries: Sequence[Entry]) -> list[int]:
    """Append events in order inside the caller's transaction; their sequence numbers.

    Moving the head row forward by the number of events first takes its row lock (PostgreSQL)
    or the write lock (SQLite), so concurrent appends are serialised and sequence numbers stay
    gapless even on rollback. A batch costs one head update and one multi-row insert."""
    if not entries:
        return []
    heads, events = Base.metadata.tables["audit_head"], Base.metadata.tables["audit_events"]
    head = session.execute(
        update(heads)
        .where(heads.c.id == 1)
        .values(last_seq=heads.c.last_seq + len(entries))
        .returning(heads.c.last_seq, heads.c.last_hash)
    ).one()
    seq, previous = head.last_seq - len(entries), head.last_hash
    occurred_at = isoformat(utcnow())
    rows = []
    for entry in entries:
        seq += 1
        sealed = seal(
            AuditRecord(
                seq=seq,
                occurred_at=occurred_at,
                actor=entry.actor,
                action=str(entry.action),
                object=entry.object,
                outcome=str(entry.outcome),
                details=_json_safe(entry.details or {}),
                prev_hash=previous,
            )
        )
        previous = sealed.row_hash
        rows.append({**sealed.__dict__, "details": dict(sealed.details)})
    session.execute(insert(events), rows)
    session.execute(update(heads).where(heads.c.id == 1).values(last_hash=previous))
    return [row["seq"] for row in rows]


# Audit events written by the group-commit thread (db/group_commit.py).
ENTRIES: BatchWriter[Entry, int] = BatchWriter("audit", append)


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
