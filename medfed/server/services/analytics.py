"""Federated analytics at the server: a question is asked of every hospital with an active
node; each node answers under its hospital's policy (declined with the reason, answered by name
when the query asks per site and the policy allows, or joined to the network-wide secure sum);
when the collection ends the server releases only noisy figures, small cells withheld.

The server never holds one hospital's exact figures: a per-site answer carries all of its own
noise, and a network-wide answer arrives masked, each hospital having added 1/t of the noise's
variance, so any t of them (the protocol's threshold) add up to the full noise.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from medfed.analytics import noise
from medfed.analytics.query import DEFAULT_MIN_CELL, HISTOGRAM, QUANTILES, Query, layout
from medfed.analytics.release import NoiseOnSum, release, site_differences
from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.core.clock import utcnow
from medfed.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import protocol
from medfed.server import bell
from medfed.server.db.analytics_tables import AnalyticsMember, AnalyticsQuery
from medfed.server.db.engine import transaction
from medfed.server.db.tables import Hospital, Node
from medfed.server.services import analytics_secagg as secure
from medfed.server.services import audit
from medfed.server.services.enrollment import NodeRef
from medfed.server.services.stepping import advance_each

logger = logging.getLogger("medfed.analytics")
LIVE = ("collecting", "aggregating")
MIN_HOSPITALS = 2  # a network-wide figure sums at least two hospitals' answers


@dataclass(frozen=True)
class Asking:
    query: Query
    per_site: bool = False
    min_hospitals: int = MIN_HOSPITALS
    collect_seconds: float = 120.0
    stage_seconds: float = 60.0
    hospitals: tuple[str, ...] = ()  # ask only these (by name); empty: every active hospital


def query_of(row: AnalyticsQuery) -> Query:
    fields = dict(row.query)
    for name in ("bins", "quantiles", "bands"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return Query(**fields)


def _fields(query: Query) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(query).items()}


def ask(session: Session, asking: Asking, *, actor: str) -> AnalyticsQuery:
    """Check the question and ask it of every hospital with an active node."""
    query = asking.query
    spec = get_disease(query.disease)
    layout(spec, query)  # refuses what the spec cannot answer, with the field named
    if not asking.per_site and query.mechanism != noise.GAUSSIAN:
        raise InvalidInput(
            "Laplace noise does not add up across hospitals: a network-wide query uses the "
            "gaussian mechanism (or ask per site, where each hospital adds all of its own).",
            field="mechanism",
        )
    if asking.min_hospitals < MIN_HOSPITALS:
        raise InvalidInput(
            f"min_hospitals must be at least {MIN_HOSPITALS}: with one, its figure would be "
            "the network's.",
            field="min_hospitals",
        )
    nodes = _active_nodes(session, asking.hospitals)
    if len(nodes) < asking.min_hospitals:
        raise Conflict(
            f"Only {len(nodes)} hospitals have an active node; this query needs "
            f"{asking.min_hospitals}. Lower min_hospitals or enrol more nodes.",
            field="min_hospitals",
        )
    row = AnalyticsQuery(
        disease=spec.id,
        kind=query.kind,
        query=_fields(dataclasses.replace(query, disease=spec.id)),
        per_site=asking.per_site,
        min_hospitals=asking.min_hospitals,
        collect_seconds=asking.collect_seconds,
        stage_seconds=asking.stage_seconds,
        status="collecting",
        asked_by=actor,
    )
    session.add(row)
    session.flush()
    for hospital_id, node_id in nodes.items():
        session.add(AnalyticsMember(query_id=row.id, hospital_id=hospital_id, node_id=node_id))
    audit.record(
        session,
        actor=actor,
        action=AuditAction.ANALYTICS_ASKED,
        object=f"analytics:{row.id}",
        details={
            "disease": spec.id,
            "kind": query.kind,
            "per_site": asking.per_site,
            "epsilon": query.epsilon,
            "hospitals": len(nodes),
        },
    )
    bell.note(session, nodes, kick=False)
    session.flush()
    session.refresh(row)
    return row


def _active_nodes(session: Session, names: tuple[str, ...]) -> dict[int, int]:
    """Each active hospital's most recently enrolled active node (of the hospitals named)."""
    rows = session.execute(
        select(Node.hospital_id, Node.id, Hospital.name)
        .join(Hospital, Hospital.id == Node.hospital_id)
        .where(Node.revoked_at.is_(None), Hospital.is_active.is_(True))
        .order_by(Node.enrolled_at, Node.id)
    ).all()
    found = {str(name): (int(h), int(n)) for h, n, name in rows}
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise InvalidInput(
            f"No active node at {', '.join(unknown)}; hospitals with one: "
            f"{', '.join(sorted(found)) or 'none'}.",
            field="hospitals",
        )
    return {h: n for name, (h, n) in found.items() if not names or name in names}


def get_query(session: Session, query_id: int, *, lock: bool = False) -> AnalyticsQuery:
    statement = select(AnalyticsQuery).where(AnalyticsQuery.id == query_id)
    found = session.scalar(statement.with_for_update() if lock else statement)
    if found is None:
        raise NotFound(f"There is no analytics query {query_id}.", field="query_id")
    return found


def list_queries(
    session: Session, disease: str | None = None, limit: int = 100
) -> list[AnalyticsQuery]:
    statement = select(AnalyticsQuery).order_by(AnalyticsQuery.id.desc()).limit(limit)
    if disease:
        statement = statement.where(AnalyticsQuery.disease == get_disease(disease).id)
    return list(session.scalars(statement))


def cancel(session: Session, query_id: int, *, actor: str) -> AnalyticsQuery:
    query = get_query(session, query_id, lock=True)
    if query.status not in LIVE:
        raise Conflict(f"Query {query_id} is {query.status}; only a live query can be cancelled.")
    _end(session, query, "cancelled", f"cancelled by {actor}", actor=actor)
    return query


# The node's side ------------------------------------------------------------------------------


def _member(session: Session, query: AnalyticsQuery, node: NodeRef) -> AnalyticsMember:
    member = session.scalar(
        select(AnalyticsMember).where(
            AnalyticsMember.query_id == query.id,
            AnalyticsMember.hospital_id == node.hospital_id,
        )
    )
    if member is None or member.node_id != node.id:
        raise PermissionDenied(f"Analytics query {query.id} was not asked of this node.")
    return member


def listing_state(
    session: Session | Connection, hospital_id: int
) -> list[tuple[int, str, str | None, str]]:
    """What a node acts on: each live query asked of its hospital, its stage and the
    hospital's part (a node's long poll answers when this changes)."""
    rows = session.execute(
        select(
            AnalyticsQuery.id, AnalyticsQuery.status, AnalyticsQuery.secagg, AnalyticsMember.status
        )
        .join(AnalyticsMember, AnalyticsMember.query_id == AnalyticsQuery.id)
        .where(AnalyticsMember.hospital_id == hospital_id, AnalyticsQuery.status.in_(LIVE))
        .order_by(AnalyticsQuery.id)
    ).all()
    return [(int(i), s, (sa or {}).get("stage"), m) for i, s, sa, m in rows]


def for_node(session: Session, node: NodeRef) -> list[dict[str, Any]]:
    """The live queries asked of this node's hospital, each with what the node needs now."""
    out = []
    for query_id, _, _, mine in listing_state(session, node.hospital_id):
        query = get_query(session, query_id)
        member = _member(session, query, node)
        entry: dict[str, Any] = {
            "id": query.id,
            "disease": query.disease,
            "query": query.query,
            "per_site": query.per_site,
            "status": query.status,
            "my_status": mine,
        }
        if not query.per_site and mine in ("asked", "joined"):
            entry["secagg"] = secure.view(session, query, member)
            if query.status == "aggregating":
                entry["share"] = 1.0 / int((query.secagg or {})["threshold"])
        out.append(entry)
    return out


def decline(session: Session, node: NodeRef, query_id: int, reason: str) -> AnalyticsMember:
    """The hospital declines (its policy, its budget, its file): reported as declined, with its
    reason, and it spends nothing. A hospital that joined the secure sum but declines before
    its answer drops out of it."""
    query = get_query(session, query_id, lock=True)
    member = _member(session, query, node)
    if member.status in ("answered", "declined", "dropped"):
        return member
    member.status, member.reason, member.updated_at = "declined", reason[:500], utcnow()
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.ANALYTICS_DECLINED,
        object=f"analytics:{query.id}",
        details={"reason": reason[:500]},
    )
    _kick_if_collected(session, query)
    return member


def join(
    session: Session, node: NodeRef, query_id: int, stage: str, message: dict[str, Any]
) -> AnalyticsMember:
    """One message of the network-wide secure sum (advertise_keys joins it)."""
    query = get_query(session, query_id, lock=True)
    member = _member(session, query, node)
    if query.status not in LIVE:
        raise Conflict(f"Query {query_id} is {query.status}; it takes no more messages.")
    if member.status not in ("asked", "joined"):
        raise Conflict(f"This hospital has {member.status} query {query_id}.")
    last = secure.receive(session, query, member, stage, message)
    _spend(member, message, stage)
    if stage == wire.ADVERTISE_KEYS:
        member.status, member.updated_at = "joined", utcnow()
        _kick_if_collected(session, query)
    elif last:
        bell.note(session, (), kick=True)
    return member


def _spend(member: AnalyticsMember, message: dict[str, Any], stage: str) -> None:
    """What the hospital says its answer spent (with the masked answer) and its own
    suppression threshold (with its keys)."""
    try:
        if stage == wire.ADVERTISE_KEYS and message.get("min_cell") is not None:
            member.min_cell = max(DEFAULT_MIN_CELL, int(message["min_cell"]))
        if stage == wire.MASKED_INPUT:
            member.epsilon = float(message["epsilon"])
            member.delta = float(message["delta"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("min_cell, epsilon and delta must be numbers.") from None


def answer(
    session: Session,
    node: NodeRef,
    query_id: int,
    vector: bytes,
    *,
    epsilon: float,
    delta: float,
    min_cell: int,
) -> AnalyticsMember:
    """A per-site answer: the hospital's figures with all of its own noise, shown by its name."""
    query = get_query(session, query_id, lock=True)
    member = _member(session, query, node)
    if not query.per_site:
        raise Conflict(f"Query {query_id} is network-wide: join its secure aggregation instead.")
    if query.status != "collecting":
        raise Conflict(f"Query {query_id} is {query.status}; it takes no more answers.")
    if member.status != "asked":
        raise Conflict(f"This hospital has {member.status} query {query_id} already.")
    size = layout(get_disease(query.disease), query_of(query)).size
    values = np.frombuffer(vector, dtype="<f8") if len(vector) % 8 == 0 else np.empty(0)
    if values.shape != (size,) or not np.all(np.isfinite(values)):
        raise InvalidInput(f"The answer must be {size} finite float64 values (little-endian).")
    if not 0 < epsilon <= 10 or not 0 <= delta < 1e-3:
        raise InvalidInput("epsilon must lie in (0, 10] and delta in [0, 0.001).")
    member.answer, member.epsilon, member.delta = vector, epsilon, delta
    member.min_cell = max(DEFAULT_MIN_CELL, min_cell)
    member.status, member.updated_at = "answered", utcnow()
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.ANALYTICS_ANSWER,
        object=f"analytics:{query.id}",
        details={"epsilon": epsilon, "delta": delta},
    )
    _kick_if_collected(session, query)
    return member


def _kick_if_collected(session: Session, query: AnalyticsQuery) -> None:
    session.flush()
    if all(m.status != "asked" for m in query.members):
        bell.note(session, (), kick=True)


# Moving queries along (the server's ticker) ---------------------------------------------------


def advance_all(
    factory: sessionmaker[Session],
    reader: sessionmaker[Session] | None = None,
    now: datetime | None = None,
) -> dict[int, str]:
    """Advance every live query as far as it can go now (the server's ticker, each full pass);
    `reader` looks for live ones without taking SQLite's write lock."""
    with (reader or factory)() as session:
        live = list(
            session.scalars(select(AnalyticsQuery.id).where(AnalyticsQuery.status.in_(LIVE)))
        )
    return advance_each(
        live,
        lambda query_id: advance(factory, query_id, now),
        most=5,
        what="analytics query",
        logger=logger,
    )


def advance(
    factory: sessionmaker[Session], query_id: int, now: datetime | None = None
) -> str | None:
    """Take the one step that is due, if any (one transaction); the new status or stage."""
    moment = now or utcnow()
    with transaction(factory) as session:
        query = get_query(session, query_id, lock=True)
        if query.status == "collecting":
            return _end_collection(session, query, moment)
        if query.status != "aggregating":
            return None
        step = secure.due(session, query, moment)
        if step is None:
            return None
        if step.target == "failed":
            _end(session, query, "failed", step.reason)
            return "failed"
        secure.close(session, query, step, moment)
        if step.target == wire.DONE:
            _release_network(session, query)
            return query.status
        _note_members(session, query)
        return step.target


def _end_collection(session: Session, query: AnalyticsQuery, now: datetime) -> str | None:
    waiting = [m for m in query.members if m.status == "asked"]
    deadline = query.created_at + timedelta(seconds=query.collect_seconds)
    if waiting and now < deadline:
        return None
    for member in waiting:
        member.status = "dropped"
        member.reason = f"did not answer within {query.collect_seconds:g} s"
        member.updated_at = now
    if query.per_site:
        _release_per_site(session, query)
        return query.status
    joined = sorted(m.id for m in query.members if m.status == "joined")
    if len(joined) < query.min_hospitals:
        _end(session, query, "failed", _too_few(query, len(joined)))
        return "failed"
    threshold = max(query.min_hospitals, protocol.default_threshold(len(joined)))
    size = layout(get_disease(query.disease), query_of(query)).size
    secure.start(session, query, joined, threshold, size, now)
    query.status = "aggregating"
    _note_members(session, query)
    return "aggregating"


def _too_few(query: AnalyticsQuery, agreed: int) -> str:
    declined = sum(m.status == "declined" for m in query.members)
    silent = sum(m.status == "dropped" for m in query.members)
    return (
        f"only {agreed} of {len(query.members)} hospitals agreed to answer ({declined} declined, "
        f"{silent} did not answer); this query needs {query.min_hospitals}. Nobody spent "
        "any budget on it."
    )


def _note_members(session: Session, query: AnalyticsQuery) -> None:
    bell.note(session, [m.hospital_id for m in query.members], kick=False)


def _end(
    session: Session, query: AnalyticsQuery, status: str, reason: str, *, actor: str | None = None
) -> None:
    query.status, query.reason, query.closed_at = status, reason[:500], utcnow()
    action = {
        "released": AuditAction.ANALYTICS_RELEASED,
        "failed": AuditAction.ANALYTICS_FAILED,
        "cancelled": AuditAction.ANALYTICS_CANCELLED,
    }[status]
    audit.record(
        session,
        actor=actor or audit.SYSTEM_ACTOR,
        action=action,
        object=f"analytics:{query.id}",
        details={"reason": reason[:500]},
    )
    _note_members(session, query)


# Release ---------------------------------------------------------------------------------------


def _plan(query: Query, touched: int) -> noise.NoisePlan:
    return noise.plan(query.mechanism, query.epsilon, query.delta, touched)


def _noise_note(
    query: Query, plan: noise.NoisePlan, sensitivity: tuple[float, ...]
) -> dict[str, Any]:
    return {
        "mechanism": plan.mechanism,
        "epsilon": plan.epsilon,
        "delta": plan.delta,
        "touched": plan.touched,
        "sensitivity": list(sensitivity),
        "scale": plan.scale,
        "statement": (
            f"One patient changes at most {plan.touched} figure(s) of one cell, each by at most "
            f"its sensitivity; {plan.mechanism} noise at epsilon {plan.epsilon:g}"
            + (f", delta {plan.delta:g}" if plan.mechanism == noise.GAUSSIAN else "")
        ),
    }


def _all_suppressed(cells: list[dict[str, Any]]) -> bool:
    return all(c["suppressed"] for c in cells)


def _release_network(session: Session, query: AnalyticsQuery) -> None:
    asked = query_of(query)
    shape = layout(get_disease(query.disease), asked)
    try:
        total, survivors = secure.unmasked_sum(session, query)
    except protocol.ProtocolError as error:
        _end(session, query, "failed", f"the secure sum could not be unmasked: {error}")
        return
    threshold = int((query.secagg or {})["threshold"])
    plan = _plan(asked, shape.touched)
    members = [m for m in query.members if m.id in survivors]
    min_cell = max([DEFAULT_MIN_CELL, *(m.min_cell or DEFAULT_MIN_CELL for m in members)])
    cells = release(asked, shape, total, NoiseOnSum(plan, len(survivors) / threshold), min_cell)
    for member in query.members:
        if member.id in survivors:
            member.status, member.updated_at = "answered", utcnow()
        elif member.status == "joined":
            member.status, member.reason = "dropped", "dropped out of the secure sum"
    query.result = {
        "network": {"cells": cells, "hospitals": len(survivors)},
        "min_cell": min_cell,
        "noise": _noise_note(asked, plan, shape.sensitivity),
    }
    _finish(session, query, cells, f"{len(survivors)} hospitals' answers summed securely")


def _release_per_site(session: Session, query: AnalyticsQuery) -> None:
    asked = query_of(query)
    shape = layout(get_disease(query.disease), asked)
    answered = [m for m in query.members if m.status == "answered" and m.answer is not None]
    if not answered:
        _end(session, query, "failed", _too_few(query, 0))
        return
    plan = _plan(asked, shape.touched)
    min_cell = max([DEFAULT_MIN_CELL, *(m.min_cell or DEFAULT_MIN_CELL for m in answered)])
    vectors = {m.hospital.name: np.frombuffer(m.answer or b"", dtype="<f8") for m in answered}
    sites = {
        name: release(asked, shape, vector, NoiseOnSum(plan), min_cell)
        for name, vector in vectors.items()
    }
    total = np.sum(list(vectors.values()), axis=0)
    network = release(asked, shape, total, NoiseOnSum(plan, len(vectors)), min_cell)
    result: dict[str, Any] = {
        "network": {"cells": network, "hospitals": len(vectors)},
        "sites": sites,
        "min_cell": min_cell,
        "noise": _noise_note(asked, plan, shape.sensitivity),
    }
    if asked.kind in (HISTOGRAM, QUANTILES) and len(vectors) >= 2 and len(shape.cells) == 1:
        distances = site_differences({n: v for n, v in vectors.items()})
        result["site_differences"] = {n: (None if np.isnan(d) else d) for n, d in distances.items()}
    query.result = result
    _finish(session, query, network, f"{len(vectors)} hospitals answered by name")


def _finish(session: Session, query: AnalyticsQuery, cells: list[dict[str, Any]], how: str) -> None:
    # A JSON column is written when assigned, not when changed in place: build, then assign.
    result = dict(query.result or {})
    result["declined"] = [
        {"hospital": m.hospital.name, "reason": m.reason}
        for m in query.members
        if m.status == "declined"
    ]
    nothing = _all_suppressed(cells)
    if nothing:
        withheld = [{"cell": c["cell"], "label": c["label"], "suppressed": True} for c in cells]
        result["network"] = {**result["network"], "cells": withheld}
    query.result = result
    if nothing:
        how += (
            f", but every cell is under the suppression threshold ({result['min_cell']}): "
            "nothing is shown. Ask with fewer or wider cells."
        )
    _end(session, query, "released", how)
