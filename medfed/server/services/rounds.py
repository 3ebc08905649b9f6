"""Federated rounds as seen by administrators and nodes: open, join, submit, report, cancel.

Every call locks its round's row first (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's
BEGIN IMMEDIATE already serialises writers), so concurrent joins and submissions are counted
exactly once. The transitions themselves are in `round_driver`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.catalog import get_disease
from medfed.core.clock import utcnow
from medfed.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from medfed.core.numbers import json_safe
from medfed.fl import rounds as machine
from medfed.fl.promotion import PairedSums
from medfed.fl.strategies import STRATEGIES
from medfed.server import bell
from medfed.server.db.tables import Contribution, Hospital, ModelVersion, Round, RoundMember
from medfed.server.services import audit, registry
from medfed.server.services.enrollment import NodeRef
from medfed.server.services.registry import ModelCache
from medfed.server.services.updates import decode_update


def config_of(round_: Round) -> machine.RoundConfig:
    return machine.RoundConfig.from_dict(round_.config)


def get_round(session: Session, round_id: int, *, lock: bool = False) -> Round:
    query = select(Round).where(Round.id == round_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"There is no round {round_id}.", field="round_id")
    return found


def list_rounds(session: Session, disease: str | None = None, limit: int = 100) -> list[Round]:
    query = select(Round).order_by(Round.id.desc()).limit(limit)
    if disease:
        query = query.where(Round.disease == get_disease(disease).id)
    return list(session.scalars(query))


def config_problems(config: machine.RoundConfig) -> list[str]:
    """Everything wrong with a round's settings, in words (empty when they can run)."""
    problems = config.problems()
    if config.strategy not in STRATEGIES:
        problems.append(f"unknown strategy {config.strategy!r}; known: {', '.join(STRATEGIES)}")
    elif STRATEGIES[config.strategy].needs_individual_updates and config.secure:
        problems.append(
            f"{config.strategy} needs each hospital's update, so it runs only with secure "
            "aggregation off (plain mode)"
        )
    return problems


def live_round(session: Session, disease: str) -> Round | None:
    return session.scalar(
        select(Round).where(Round.disease == disease, Round.status.in_(machine.LIVE))
    )


def open_round(session: Session, disease: str, config: machine.RoundConfig, *, actor: str) -> Round:
    spec = get_disease(disease)
    problems = config_problems(config)
    if problems:
        raise InvalidInput("The round cannot be opened: " + "; ".join(problems) + ".")
    check_targets(session, config)
    live = live_round(session, spec.id)
    if live is not None:
        raise Conflict(
            f"{spec.title} round {live.number} is still {live.status}; wait for it to finish "
            "or cancel it.",
            field="disease",
        )
    # Rounds continue the training line, whichever version doctors are served.
    base = registry.training_head(session, spec.id)
    last = session.scalar(select(func.max(Round.number)).where(Round.disease == spec.id))
    round_ = Round(
        disease=spec.id,
        number=(last or 0) + 1,
        status=machine.OPEN,
        base_version_id=base.id,
        config=config.as_dict(),
        opened_by=actor,
        opened_at=utcnow(),
        evaluation={},
        strategy_state={},
    )
    session.add(round_)
    session.flush()
    bell.note(session, None)  # every node may join an open round
    audit.record(
        session,
        actor=actor,
        action=AuditAction.ROUND_OPENED,
        object=f"round:{round_.id}",
        details={"disease": spec.id, "base": base.version, "strategy": config.strategy},
    )
    return round_


def check_targets(session: Session, config: machine.RoundConfig) -> None:
    """The hospitals a round is for must be this network's, and active."""
    if config.hospitals is None:
        return
    found = {
        hospital_id: active
        for hospital_id, active in session.execute(
            select(Hospital.id, Hospital.is_active).where(Hospital.id.in_(config.hospitals))
        )
    }
    unknown = [h for h in config.hospitals if h not in found]
    if unknown:
        raise InvalidInput(
            f"No hospital has the id {unknown[0]}; name hospitals by their ids (see "
            "GET /api/v1/network).",
            field="hospitals",
        )
    inactive = [h for h in config.hospitals if not found[h]]
    if inactive:
        raise InvalidInput(
            f"Hospital {inactive[0]} is deactivated; its nodes cannot take part.",
            field="hospitals",
        )


def served_version(session: Session, round_: Round) -> ModelVersion | None:
    """The version doctors were served when the round's candidate was made (None before)."""
    version_id = (round_.evaluation or {}).get("served_version_id")
    if version_id is None:
        return round_.base_version if round_.candidate_key else None
    return session.get(ModelVersion, int(version_id))


def cancel(session: Session, round_id: int, *, reason: str, actor: str) -> Round:
    round_ = get_round(session, round_id, lock=True)
    if len(reason.strip()) < 5:
        raise InvalidInput("Give a reason (at least 5 characters).", field="reason")
    try:
        machine.check_transition(round_.status, machine.FAILED)
    except machine.TransitionRefused:
        raise Conflict(f"Round {round_.id} is already {round_.status}.") from None
    finish(session, round_, machine.FAILED, f"cancelled: {reason.strip()}", actor=actor)
    bell.note(session, ())  # a full look: a campaign may open its next round now
    return round_


def finish(session: Session, round_: Round, status: str, reason: str, *, actor: str) -> None:
    machine.check_transition(round_.status, status)
    round_.status = status
    round_.reason = reason[:500]
    round_.closed_at = utcnow()
    # Nodes hear of it; the ticker that finished it goes on to the campaigns by itself.
    bell.note(session, hospitals_in(round_), kick=False)
    action = {
        machine.DEPLOYED: AuditAction.ROUND_DEPLOYED,
        machine.REJECTED: AuditAction.ROUND_REJECTED,
    }.get(status, AuditAction.ROUND_FAILED)
    audit.record(
        session,
        actor=actor,
        action=action,
        object=f"round:{round_.id}",
        details={"disease": round_.disease, "reason": round_.reason},
    )


# The node's side ------------------------------------------------------------------------------


def hospitals_in(round_: Round) -> list[int]:
    return [m.hospital_id for m in round_.members]


def member_of(round_: Round, node: NodeRef) -> RoundMember | None:
    return next((m for m in round_.members if m.hospital_id == node.hospital_id), None)


@dataclass(frozen=True)
class NodeRoundView:
    """One round as a node sees it: the round, and this hospital's place in it."""

    id: int
    disease: str
    number: int
    status: str
    reason: str | None
    config: dict[str, Any]
    stage: str | None
    base_version: str
    result_version: str | None
    my_status: str | None
    members: int
    base_artifact: str
    candidate_artifact: str | None


# The node's listing and its long-poll tag run at every step of every round, for every node:
# their statements are built once (with bound parameters) instead of at each call, which cost
# more than running them.
_HOSPITAL = bindparam("hospital_id", type_=Integer)
_ROUND = bindparam("round_id", type_=Integer)
_LIMIT = bindparam("limit", type_=Integer)
_MINE = (
    select(RoundMember.round_id, RoundMember.status)
    .where(RoundMember.hospital_id == _HOSPITAL)
    .subquery()
)
# A node sees the open rounds and those its hospital is in.
_VISIBLE = (Round.status == machine.OPEN) | _MINE.c.round_id.is_not(None)
_STAGE = Round.secagg["stage"].as_string()


def _node_rounds() -> Select[Any]:
    members = (
        select(func.count(RoundMember.id))
        .where(RoundMember.round_id == Round.id)
        .correlate(Round)
        .scalar_subquery()
    )
    base, result = aliased(ModelVersion), aliased(ModelVersion)
    return (
        select(
            Round.id,
            Round.disease,
            Round.number,
            Round.status,
            Round.reason,
            Round.config,
            _STAGE,
            base.major,
            base.minor,
            result.major,
            result.minor,
            _MINE.c.status,
            members,
            base.artifact_key,
            Round.candidate_key,
        )
        .join(base, base.id == Round.base_version_id)
        .outerjoin(result, result.id == Round.result_version_id)
        .outerjoin(_MINE, _MINE.c.round_id == Round.id)
    )


_NODE_ROUNDS = _node_rounds().where(_VISIBLE).order_by(Round.id.desc()).limit(_LIMIT)
_NODE_ROUND = _node_rounds().where(Round.id == _ROUND)


_LISTING_STATE = (
    select(Round.id, Round.status, _STAGE, _MINE.c.status)
    .outerjoin(_MINE, _MINE.c.round_id == Round.id)
    .where(_VISIBLE)
    .order_by(Round.id.desc())
    .limit(_LIMIT)
)


def _stage(status: str, stage: str | None) -> str | None:
    """The secure-aggregation stage, while a secure round trains."""
    return stage if status == machine.TRAINING else None


def rounds_for_node(
    session: Session, hospital_id: int, *, round_id: int | None = None, limit: int = 20
) -> list[NodeRoundView]:
    """Rounds the node may join, and the recent rounds its hospital is in (or only `round_id`),
    in one query: no member rows or secure-aggregation state are loaded, only this hospital's
    status in each round, the count of members and the stage."""
    if round_id is None:
        result = session.execute(_NODE_ROUNDS, {"hospital_id": hospital_id, "limit": limit})
    else:
        result = session.execute(_NODE_ROUND, {"hospital_id": hospital_id, "round_id": round_id})
    # A round for named hospitals is not offered to the others (it is theirs only once joined).
    rows = [
        row
        for row in result
        if row[11] is not None or machine.RoundConfig.from_dict(row[5]).admits(hospital_id)
    ]
    return [
        NodeRoundView(
            id=row[0],
            disease=row[1],
            number=row[2],
            status=row[3],
            reason=row[4],
            config=row[5],
            stage=_stage(row[3], row[6]),
            base_version=f"v{row[7]}.{row[8]}",
            result_version=None if row[9] is None else f"v{row[9]}.{row[10]}",
            my_status=row[11],
            members=int(row[12]),
            base_artifact=row[13],
            candidate_artifact=row[14],
        )
        for row in rows
    ]


def listing_state(
    session: Session | Connection, hospital_id: int, limit: int = 20
) -> list[tuple[int, str, str | None, str | None]]:
    """What a node acts on in `rounds_for_node`, in one query: each round's id, status and
    secure-aggregation stage, and this hospital's status in it. A node's long poll answers when
    this changes."""
    rows = session.execute(_LISTING_STATE, {"hospital_id": hospital_id, "limit": limit})
    return [
        (round_id, status, _stage(status, stage), member)
        for round_id, status, stage, member in rows
    ]


def kick_if_last(session: Session, round_id: int, last: bool) -> None:
    """Kick the ticker when a node's message is the last one a step waits for (the cohort is
    full, every update or evaluation is in, a secure stage has every message): the step ends at
    once. Earlier messages do not: the step waits for the rest or for its deadline, which the
    ticker's own interval notices, and a pass per message cost the server more than the nodes'
    own requests."""
    if last:
        bell.note(session, (), rounds=(round_id,))


def _members(session: Session, round_id: int, status: str | None = None) -> int:
    """How many hospitals are in the round (in `status`), this transaction's changes included."""
    session.flush()
    query = select(func.count(RoundMember.id)).where(RoundMember.round_id == round_id)
    if status is not None:
        query = query.where(RoundMember.status == status)
    return int(session.scalar(query) or 0)


def join(session: Session, node: NodeRef, round_id: int, rows: int) -> RoundMember:
    round_ = get_round(session, round_id, lock=True)
    config = config_of(round_)
    if round_.status != machine.OPEN:
        raise Conflict(f"Round {round_.id} is {round_.status}; only an open round can be joined.")
    if member_of(round_, node) is not None:
        raise Conflict(f"This hospital is already in round {round_.id}.")
    if not config.admits(node.hospital_id):
        raise PermissionDenied(
            f"Round {round_.id} is for named hospitals only, and this hospital is not one of them."
        )
    if len(round_.members) >= config.max_hospitals:
        raise Conflict(f"Round {round_.id} is full ({config.max_hospitals} hospitals).")
    if rows < config.min_rows:
        raise InvalidInput(
            f"{rows} training rows is below this round's minimum of {config.min_rows}.",
            field="rows",
        )
    member = RoundMember(
        round_id=round_.id,
        hospital_id=node.hospital_id,
        node_id=node.id,
        rows=rows,
        status="joined",
        joined_at=utcnow(),
    )
    session.add(member)
    session.flush()
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.ROUND_JOINED,
        object=f"round:{round_.id}",
        details={"rows": rows},
    )
    # A full secure cohort is kicked by its last advertisement of keys, which follows the join.
    full = _members(session, round_.id) >= config.max_hospitals
    kick_if_last(session, round_.id, full and not config.secure)
    return member


@dataclass(frozen=True)
class UpdateIn:
    job_ref: str
    base_version: str
    rows: int
    epsilon: float | None
    delta: float | None
    metrics: dict[str, Any]
    update: str | bytes | memoryview  # base64 text (JSON) or the raw bytes (a binary frame)


def submit(
    session: Session, cache: ModelCache, node: NodeRef, round_id: int, body: UpdateIn
) -> RoundMember:
    """Accept one cohort member's update, once; anything else is refused with the reason."""
    round_ = get_round(session, round_id, lock=True)
    config = config_of(round_)
    member = member_of(round_, node)
    if member is None or member.node_id != node.id:
        raise PermissionDenied(f"This node is not in the cohort of round {round_.id}.")
    if member.status != "joined":
        raise Conflict(
            f"This hospital's update for round {round_.id} was already received; "
            "an update counts once.",
            field="job_ref",
        )
    if config.secure:
        raise Conflict(
            f"Round {round_.id} uses secure aggregation: send the masked update through its "
            "protocol (/secagg), never the update itself."
        )
    if round_.status != machine.TRAINING:
        raise Conflict(
            f"Round {round_.id} is {round_.status}; updates are accepted only while it is training.",
            field="round_id",
        )
    base = round_.base_version
    if body.base_version != base.version:
        raise Conflict(
            f"The update was trained from {body.base_version}, but round {round_.id} trains "
            f"from {base.version}: it is stale.",
            field="base_version",
        )
    if body.rows < config.min_rows:
        raise InvalidInput(
            f"{body.rows} rows is below the round's minimum of {config.min_rows}.", field="rows"
        )
    refuse_replay(session, node, body.job_ref)
    vector = decode_update(body.update, cache.get(base).parameters.shape[0])
    try:
        norm = machine.check_update(vector, cache.get(base).parameters.shape[0], config.norm_bound)
    except machine.UpdateRefused as refused:
        raise InvalidInput(f"The update is refused: {refused}.", field="update") from None
    contribution = accept(session, round_, node, member, body, vector.tobytes(), "accepted")
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.ROUND_UPDATE_ACCEPTED,
        object=f"round:{round_.id}",
        details={"contribution_id": contribution.id, "rows": body.rows, "norm": round(norm, 6)},
    )
    kick_if_last(session, round_.id, _members(session, round_.id, "joined") == 0)
    return member


def refuse_replay(session: Session, node: NodeRef, job_ref: str) -> None:
    replay = session.scalar(
        select(Contribution.id).where(
            Contribution.node_id == node.id, Contribution.job_ref == job_ref
        )
    )
    if replay is not None:
        raise Conflict(
            f"Job {job_ref} was already sent (contribution {replay}); a replayed update "
            "is refused.",
            field="job_ref",
        )


def accept(
    session: Session,
    round_: Round,
    node: NodeRef,
    member: RoundMember,
    body: UpdateIn,
    blob: bytes,
    status: str,
) -> Contribution:
    """Record the member's update (plain, or masked) as its one contribution to the round."""
    contribution = Contribution(
        hospital_id=node.hospital_id,
        node_id=node.id,
        disease=round_.disease,
        base_version_id=round_.base_version_id,
        job_ref=body.job_ref,
        rows=body.rows,
        epsilon=body.epsilon,
        delta=body.delta,
        metrics=json_safe(body.metrics),
        update_blob=blob,
        update_sha256=hashlib.sha256(blob).hexdigest(),
        status=status,
    )
    session.add(contribution)
    session.flush()
    member.status = "submitted"
    member.submitted_at = utcnow()
    member.contribution_id = contribution.id
    member.rows = body.rows
    return contribution


def record_refusal(session: Session, node: NodeRef, round_id: int, message: str) -> None:
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.ROUND_UPDATE_REJECTED,
        object=f"round:{round_id}",
        outcome=Outcome.FAILURE,
        details={"reason": message[:300]},
    )


def report_evaluation(
    session: Session,
    node: NodeRef,
    round_id: int,
    *,
    rows: int,
    base: dict[str, Any],
    candidate: dict[str, Any],
    paired: dict[str, PairedSums] | None = None,
) -> RoundMember:
    """A contributor's metrics of the served version ("base") and the candidate on its local
    validation split, and the paired sums the promotion rule pools (numbers only)."""
    round_ = get_round(session, round_id, lock=True)
    member = member_of(round_, node)
    if member is None or member.node_id != node.id:
        raise PermissionDenied(f"This node is not in the cohort of round {round_.id}.")
    if round_.status != machine.EVALUATING:
        raise Conflict(f"Round {round_.id} is {round_.status}; it is not collecting evaluations.")
    if member.status != "submitted":
        raise Conflict(
            f"This hospital's state in round {round_.id} is {member.status}; only a hospital "
            "whose update was aggregated reports an evaluation, once."
        )
    member.status = "evaluated"
    report: dict[str, Any] = {"rows": rows, "base": base, "candidate": candidate}
    if paired is not None:
        report["paired"] = {name: sums.as_dict() for name, sums in paired.items()}
    member.evaluation = json_safe(report)
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.ROUND_EVALUATION_REPORTED,
        object=f"round:{round_.id}",
        details={"rows": rows},
    )
    kick_if_last(session, round_.id, _members(session, round_.id, "submitted") == 0)
    return member
