"""Moving rounds along: fix the cohort, aggregate, run the validation gate, deploy or reject.

Each transition is one database transaction that starts by locking the round's row and
re-reading it, asks the pure state machine (`fl.rounds.next_step`) what is due, and persists
the result together with its audit event. A crash anywhere rolls the transaction back and the
next tick redoes it: the candidate's artifact is written to the content-addressed store before
the commit (an orphan file at worst), so no half-written version can exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from medfed.core.audit_actions import AuditAction
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.core.faults import crash_point
from medfed.core.numbers import json_safe
from medfed.fl import promotion
from medfed.fl import rounds as machine
from medfed.fl.privacy import default_learning_rate
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg.protocol import ProtocolError
from medfed.fl.secagg.stages import next_stage
from medfed.fl.strategies import RoundUpdates, make_strategy
from medfed.ml.model import DiseaseModel
from medfed.server import bell
from medfed.server.db.engine import transaction
from medfed.server.db.tables import Round, RoundMember
from medfed.server.services import audit, registry, secagg
from medfed.server.services.holdout import HoldoutData, evidence_from
from medfed.server.services.registry import ModelCache
from medfed.server.services.rounds import config_of, finish, get_round, hospitals_in
from medfed.server.services.stepping import advance_each
from medfed.server.storage import ArtifactStore

logger = logging.getLogger("medfed.rounds")
ACTOR = audit.SYSTEM_ACTOR


@dataclass
class RoundServices:
    factory: sessionmaker[Session]
    store: ArtifactStore
    cache: ModelCache
    holdout: HoldoutData
    settings: Settings
    # Read-only sessions for the ticker's "is there anything to do?" (db/engine.make_read_engine):
    # an idle tick then never takes SQLite's write lock from the requests that need it.
    reader: sessionmaker[Session] | None = None

    @property
    def read_factory(self) -> sessionmaker[Session]:
        return self.reader or self.factory


def snapshot(round_: Round) -> machine.RoundSnapshot:
    members = round_.members
    return machine.RoundSnapshot(
        status=round_.status,
        config=config_of(round_),
        opened_at=round_.opened_at,
        # a member dropped while the round is open or training (its node revoked, its hospital
        # deactivated: services/lifecycle.py) is no longer waited for
        join_times=tuple(m.joined_at for m in members if m.status != "dropped"),
        submitted=sum(m.status in ("submitted", "evaluated") for m in members),
        evaluated=sum(m.status == "evaluated" for m in members),
        cohort_fixed_at=round_.cohort_fixed_at,
        candidate_at=round_.candidate_at,
    )


def advance(services: RoundServices, round_id: int, now: datetime | None = None) -> str | None:
    """Take the one transition that is due, if any; returns the new status."""
    with transaction(services.factory) as session:
        round_ = get_round(session, round_id, lock=True)
        moment = now or utcnow()
        step = machine.next_step(snapshot(round_), moment)
        if step is None and round_.status == machine.TRAINING and round_.secagg:
            moved = _secure_step(services, session, round_, moment)
            if moved is not None:
                bell.note(session, hospitals_in(round_), kick=False)
            return moved
        if step is None:
            return None
        if step.target == machine.FAILED:
            finish(session, round_, machine.FAILED, step.reason, actor=ACTOR)
        elif step.target == machine.TRAINING:
            _fix_cohort(session, round_, step.reason, now or utcnow())
            if round_.secagg:  # keys advertised while it was open: that stage may end now
                _secure_step(services, session, round_, moment)
        elif step.target == machine.EVALUATING:
            _aggregate_plain(services, session, round_, moment)
        else:
            _decide(services, session, round_)
        bell.note(session, hospitals_in(round_), kick=False)
        return round_.status


def advance_all(services: RoundServices, now: datetime | None = None) -> dict[int, str]:
    """Advance every live round as far as it can go now (the server's ticker calls this)."""
    with services.read_factory() as session:
        live = list(session.scalars(select(Round.id).where(Round.status.in_(machine.LIVE))))
    return advance_rounds(services, live, now)


def advance_rounds(
    services: RoundServices, round_ids: Iterable[int], now: datetime | None = None
) -> dict[int, str]:
    """Advance these rounds as far as each can go now; the last status each reached."""
    return advance_each(
        round_ids,
        lambda round_id: advance(services, round_id, now),
        most=4,
        what="round",
        logger=logger,
    )


def _secure_step(
    services: RoundServices, session: Session, round_: Round, now: datetime
) -> str | None:
    """End the current secure-aggregation stage if it is due; after unmasking, aggregate."""
    stage_step = next_stage(secagg.snapshot(session, round_), now)
    if stage_step is None:
        return None
    if stage_step.target == "failed" and secagg.replace_key_holder(session, round_, now):
        return f"{round_.status}:{wire.HE_KEYS}"
    if stage_step.target == "failed":
        finish(session, round_, machine.FAILED, stage_step.reason, actor=ACTOR)
        return round_.status
    length = services.cache.get(round_.base_version).parameters.shape[0]
    state = secagg.close_stage(session, round_, stage_step, now, length)
    if state["stage"] != wire.DONE:
        return f"{round_.status}:{state['stage']}"
    homomorphic = state.get("mode") == wire.HOMOMORPHIC
    try:
        if homomorphic:
            mean, rows, contributors = secagg.decrypted_sum(session, round_)
        else:
            mean, rows, contributors = secagg.unmasked_sum(session, round_)
    except ProtocolError as failure:
        what = "homomorphic aggregation" if homomorphic else "secure aggregation"
        finish(session, round_, machine.FAILED, f"{what} failed: {failure}", actor=ACTOR)
        return round_.status
    members = [m for m in round_.members if m.id in contributors]
    updates = RoundUpdates.secure(mean, rows)
    _aggregate(services, session, round_, now, updates, members)
    return round_.status


def _fix_cohort(session: Session, round_: Round, reason: str, now: datetime) -> None:
    machine.check_transition(round_.status, machine.TRAINING)
    round_.status = machine.TRAINING
    round_.cohort_fixed_at = now
    if config_of(round_).secure:
        secagg.start(round_, now)
    audit.record(
        session,
        actor=ACTOR,
        action=AuditAction.ROUND_COHORT_FIXED,
        object=f"round:{round_.id}",
        details={"hospitals": len(round_.members), "reason": reason},
    )


def _carried_state(session: Session, round_: Round, strategy: str) -> dict[str, Any]:
    """Server-optimiser state from the round that produced this round's base, if it matches."""
    previous = session.scalar(
        select(Round).where(
            Round.disease == round_.disease, Round.result_version_id == round_.base_version_id
        )
    )
    if previous is None or previous.config.get("strategy") != strategy:
        return {}
    return dict(previous.strategy_state)


def _aggregate_plain(
    services: RoundServices, session: Session, round_: Round, now: datetime
) -> None:
    contributors = [m for m in round_.members if m.status == "submitted"]
    updates = [  # read in place, as stored (float32)
        np.frombuffer(m.contribution.update_blob, dtype="<f4")
        for m in contributors
        if m.contribution is not None
    ]
    weights = np.asarray([m.rows for m in contributors], dtype=np.float64)
    _aggregate(services, session, round_, now, RoundUpdates.plain(updates, weights), contributors)


def _aggregate(
    services: RoundServices,
    session: Session,
    round_: Round,
    now: datetime,
    updates: RoundUpdates,
    contributors: list[RoundMember],
) -> None:
    """Candidate = strategy applied to the combined update; stored, scored, then evaluating."""
    machine.check_transition(round_.status, machine.EVALUATING)
    config = config_of(round_)
    for member in round_.members:
        if member not in contributors:
            member.status = "dropped"
    options = dict(config.strategy_options)
    if config.strategy == "fedprox":
        options["proximal_mu"] = config.proximal_mu
    strategy = make_strategy(config.strategy, **options)
    base_model = services.cache.get(round_.base_version)
    combined = strategy.reduce(updates)
    parameters, state = strategy.apply(
        base_model.parameters, combined, _carried_state(session, round_, config.strategy)
    )
    candidate = base_model.with_parameters(parameters)
    round_.candidate_key = services.store.put(candidate.to_bytes())
    crash_point(services.settings, "aggregate:after_artifact")
    # The candidate must beat what doctors are served now, on the same rows (not the base,
    # which is the training line's head and may never have been served).
    served = registry.active_version(session, round_.disease)
    server = services.holdout.compare(services.cache.get(served), candidate)
    round_.evaluation = {
        "server": json_safe(server) if server else None,
        "contributors": len(contributors),
        "served_version": served.version,
        "served_version_id": served.id,
    }
    round_.strategy_state = state
    round_.candidate_at = now
    round_.status = machine.EVALUATING
    for member in contributors:
        if member.contribution is not None:
            member.contribution.status = "aggregated"
    audit.record(
        session,
        actor=ACTOR,
        action=AuditAction.ROUND_AGGREGATED,
        object=f"round:{round_.id}",
        details={
            "contributors": len(contributors),
            "rows": int(updates.total_weight),
            "secure": config.secure,
            "protection": config.protection,
            "strategy": config.strategy,
            "candidate": round_.candidate_key,
        },
    )


def _evidence(round_: Round) -> promotion.Evidence:
    """The server's held-out comparison and the cohort's paired sums, pooled."""
    reports = [m.evaluation for m in round_.members if m.evaluation and m.evaluation.get("paired")]
    return evidence_from(round_.evaluation.get("server"), reports)


def _federated_summary(round_: Round, metric: str) -> dict[str, Any] | None:
    """Row-weighted metrics of the served version and the candidate over the cohort (shown)."""
    reports = [m.evaluation for m in round_.members if m.evaluation]
    served = machine.weighted_metric([(r["rows"], r["base"]) for r in reports], metric)
    candidate = machine.weighted_metric([(r["rows"], r["candidate"]) for r in reports], metric)
    if served is None or candidate is None:
        return None
    return {
        "base": {metric: served},
        "candidate": {metric: candidate},
        "hospitals": len(reports),
        "rows": sum(int(r["rows"]) for r in reports),
    }


def _decide(services: RoundServices, session: Session, round_: Round) -> None:
    """Every completed round's candidate joins the training line as the next version; it is
    promoted to doctors only when the paired evidence says it beats the served version."""
    config = config_of(round_)
    measure = config.metric if config.metric in promotion.MEASURES else "accuracy"
    decision = promotion.decide(
        _evidence(round_), measure, margin=config.tolerance, level=config.confidence
    )
    served_id = round_.evaluation.get("served_version_id")
    current = registry.active_version(session, round_.disease)
    promote, reason = decision.promote, decision.reason
    if promote and served_id is not None and current.id != served_id:
        promote = False
        reason = (
            f"not promoted: the served version changed to {current.version} while the "
            "candidate was being evaluated, so the evidence compared it with another model"
        )
    round_.evaluation = {
        **round_.evaluation,
        "federated": _federated_summary(round_, config.metric),
        "promotion": {**decision.evidence, "promote": promote, "reason": reason},
    }
    assert round_.candidate_key is not None
    candidate = DiseaseModel.from_bytes(services.store.get(round_.candidate_key))
    base = round_.base_version
    # whose updates are in the candidate (one revoked since is "dropped" but still counted)
    contributors = [
        m for m in round_.members if m.contribution and m.contribution.status == "aggregated"
    ]
    server = round_.evaluation.get("server")
    metrics = dict(server["candidate"]) if server else dict(base.metrics)
    card = {
        **base.card,
        "metrics": metrics,
        # The candidate's own calibration (the base's would describe another model).
        "calibration": services.holdout.calibration(candidate),
        "federated_evaluation": round_.evaluation.get("federated"),
        "round": {"id": round_.id, "number": round_.number, "strategy": config.strategy},
        "training": {
            "federated round": round_.number,
            "from version": base.version,
            "strategy": config.strategy,
            **(
                {"local steps": config.local_steps}
                if config.local_steps
                else {"local epochs": config.local_epochs}
            ),
            "batch size": config.batch_size,
            "learning rate": config.learning_rate
            or default_learning_rate(config.target_epsilon, candidate.architecture.kind),
            "FedProx mu": config.proximal_mu,
            "DP target epsilon per hospital": config.target_epsilon,
            **(
                {"rounds the epsilon covers": config.budget_rounds}
                if config.budget_rounds > 1
                else {}
            ),
            "secure aggregation": config.secure,
        },
    }
    version = registry.register_version(
        session,
        services.store,
        candidate,
        metrics=metrics,
        card=card,
        provenance={
            "source": "federated round",
            "round_id": round_.id,
            "base": base.version,
            "strategy": config.strategy,
            "hospitals": len(contributors),
            "rows": sum(m.rows for m in contributors),
        },
        contributing_hospitals=_hospitals_behind(session, round_, contributors),
        activate=promote,
        actor=ACTOR,
        major=base.major,
        stage="promoted" if promote else "trained",
    )
    round_.result_version_id = version.id
    if promote:
        finish(
            session,
            round_,
            machine.DEPLOYED,
            f"{version.version} {reason}; doctors now get it",
            actor=ACTOR,
        )
    else:
        finish(
            session,
            round_,
            machine.REJECTED,
            f"{version.version} trained and kept on the training line (the next round starts "
            f"from it); {reason}; doctors keep {current.version}",
            actor=ACTOR,
        )
    crash_point(services.settings, "deploy:before_commit")


def _hospitals_behind(session: Session, round_: Round, contributors: list[RoundMember]) -> int:
    """Distinct hospitals whose updates went into this disease's training line so far."""
    earlier = session.scalars(
        select(RoundMember.hospital_id)
        .join(Round, Round.id == RoundMember.round_id)
        .where(
            Round.disease == round_.disease,
            Round.result_version_id.is_not(None),
            RoundMember.status.in_(("submitted", "evaluated")),
        )
    )
    return len(set(earlier) | {m.hospital_id for m in contributors})
