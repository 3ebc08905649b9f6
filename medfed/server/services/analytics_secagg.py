"""Secure aggregation of analytics answers: the masking protocol (fl/secagg/protocol.py) over a
query's statistics vector instead of a round's update, persisted in `analytics_queries.secagg`
and `analytics_messages` so a restarted server resumes it. The server ends with the sum of the
hospitals' noisy answers, never one hospital's."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.clock import isoformat
from medfed.core.errors import Conflict, InvalidInput
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import protocol, quantize
from medfed.fl.secagg.stages import StageSnapshot, StageStep, closed, next_stage
from medfed.server.db.analytics_tables import AnalyticsMember, AnalyticsMessage, AnalyticsQuery

STAGES = (wire.ADVERTISE_KEYS, wire.SHARE_KEYS, wire.MASKED_INPUT, wire.UNMASKING)


def query_ref(query: AnalyticsQuery) -> str:
    """Binds every key, share and mask to this query (never a round's)."""
    return f"analytics/{query.disease}/{query.id}"


def messages(session: Session, query_id: int, stage: str) -> dict[int, bytes]:
    rows = session.execute(
        select(AnalyticsMessage.sender, AnalyticsMessage.payload).where(
            AnalyticsMessage.query_id == query_id, AnalyticsMessage.stage == stage
        )
    ).all()
    return {int(sender): bytes(payload) for sender, payload in rows}


def senders(session: Session, query_id: int, stage: str) -> set[int]:
    rows = session.scalars(
        select(AnalyticsMessage.sender).where(
            AnalyticsMessage.query_id == query_id, AnalyticsMessage.stage == stage
        )
    )
    return {int(s) for s in rows}


def check(query: AnalyticsQuery, stage: str, message: dict[str, Any]) -> bytes:
    """The stored form of one message, after checking its shape (InvalidInput says why not)."""
    state = query.secagg or {}
    try:
        if stage == wire.ADVERTISE_KEYS:
            return json.dumps(protocol.check_advertisement(message)).encode()
        if stage == wire.SHARE_KEYS:
            return json.dumps(protocol.check_shared(message, state["roster"])).encode()
        if stage == wire.MASKED_INPUT:
            raw = base64.b64decode(message[wire.MASKED], validate=True)
            vector = np.frombuffer(raw, dtype="<u8") if len(raw) % 8 == 0 else np.empty(0)
            protocol.check_masked(vector.astype(np.uint64, copy=False), int(state["length"]))
            return raw
        if stage == wire.UNMASKING:
            return json.dumps(protocol.check_unmasking(message)).encode()
    except protocol.ProtocolError as refused:
        raise InvalidInput(f"The {stage} message is refused: {refused}.") from None
    except (KeyError, ValueError, TypeError, AttributeError):
        raise InvalidInput(f"The {stage} message is malformed for this protocol.") from None
    raise InvalidInput(f"Analytics queries have no {stage!r} stage.", field="stage")


def receive(
    session: Session,
    query: AnalyticsQuery,
    member: AnalyticsMember,
    stage: str,
    message: dict[str, Any],
) -> bool:
    """Store one hospital's message for the current stage (advertise_keys: while the query
    collects); True when it was the last the stage waits for."""
    if stage not in STAGES:
        raise InvalidInput(
            f"Analytics queries have no {stage!r} stage; the stages are {', '.join(STAGES)}.",
            field="stage",
        )
    state = query.secagg or {}
    current = wire.ADVERTISE_KEYS if query.status == "collecting" else state.get("stage")
    if query.per_site:
        raise Conflict(f"Query {query.id} is answered by name; send the answer itself.")
    if stage != current:
        raise Conflict(f"Query {query.id} is at the {current} stage, not {stage}.", field="stage")
    if query.status == "aggregating" and member.id not in state["expected"]:
        raise Conflict(
            f"This hospital is no longer part of query {query.id}'s secure aggregation "
            "(it missed an earlier stage)."
        )
    payload = check(query, stage, message)
    sent = senders(session, query.id, stage)
    if member.id in sent:
        raise Conflict(
            f"This hospital's {stage} message for query {query.id} was already received."
        )
    session.add(AnalyticsMessage(query_id=query.id, stage=stage, sender=member.id, payload=payload))
    session.flush()
    if query.status == "collecting":
        return False
    return set(state["expected"]) <= sent | {member.id}


def start(
    session: Session,
    query: AnalyticsQuery,
    members: list[int],
    threshold: int,
    length: int,
    now: datetime,
) -> None:
    """The collection ends with these members (who advertised keys): keys are shared next."""
    roster = {
        sender: json.loads(payload)
        for sender, payload in messages(session, query.id, wire.ADVERTISE_KEYS).items()
    }
    state = {
        "mode": wire.MASKING,
        "stage": wire.ADVERTISE_KEYS,
        "threshold": threshold,
        "expected": sorted(members),
    }
    query.secagg = closed(state, sorted(members), roster, wire.SHARE_KEYS, isoformat(now), length)


def due(session: Session, query: AnalyticsQuery, now: datetime) -> StageStep | None:
    """The stage's end, if due now (everyone sent, or the deadline passed)."""
    state = query.secagg or {}
    received = senders(session, query.id, state["stage"])
    return next_stage(
        StageSnapshot(
            stage=state["stage"],
            expected=len(state["expected"]),
            received=len([s for s in received if s in state["expected"]]),
            threshold=int(state["threshold"]),
            started_at=datetime.fromisoformat(state["started_at"]),
            deadline_seconds=query.stage_seconds,
        ),
        now,
    )


def close(session: Session, query: AnalyticsQuery, step: StageStep, now: datetime) -> None:
    state = query.secagg or {}
    ended = state["stage"]
    sent = sorted(s for s in senders(session, query.id, ended) if s in state["expected"])
    query.secagg = closed(state, sent, {}, step.target, isoformat(now), int(state["length"]))


def unmasked_sum(session: Session, query: AnalyticsQuery) -> tuple[np.ndarray, list[int]]:
    """The sum of the survivors' answers (float), and who they are."""
    total, contributors = protocol.unmask_stored(
        query_ref(query),
        query.secagg or {},
        messages(session, query.id, wire.MASKED_INPUT),
        messages(session, query.id, wire.UNMASKING),
    )
    return quantize.decode_values(total), contributors


def view(session: Session, query: AnalyticsQuery, member: AnalyticsMember) -> dict[str, Any]:
    """What this hospital needs for the current stage."""
    state = query.secagg or {}
    stage = wire.ADVERTISE_KEYS if query.status == "collecting" else state.get("stage")
    answer: dict[str, Any] = {
        "ref": query_ref(query),
        "client_id": member.id,
        "stage": stage,
        "sent": member.id in senders(session, query.id, stage) if stage else True,
        "expected": query.status == "collecting" or member.id in state.get("expected", ()),
    }
    if query.status != "aggregating":
        return answer
    answer.update(threshold=state["threshold"], length=state["length"])
    answer["roster"] = state["roster"]
    if stage in (wire.MASKED_INPUT, wire.UNMASKING) and member.id in state["shared"]:
        shared = messages(session, query.id, wire.SHARE_KEYS)
        answer["ciphertexts"] = {
            str(sender): json.loads(payload)[str(member.id)]
            for sender, payload in shared.items()
            if sender in state["shared"]
        }
    if stage == wire.UNMASKING:
        answer["survivors"] = state["survivors"]
    return answer
