"""Buffered contributions: out-of-round updates that advance the training line (FedBuff).

An administrator switches the buffer on per disease (an opt-in: the server sees each buffered
update, which DP-SGD protects at its node; see fl/buffered.py). A contribution is checked when
it arrives: trained from a checkpoint on the disease's training line, not too stale, within the
norm bound, with an epsilon when DP is required; otherwise it is refused with the reason. The
server's ticker aggregates once `size` are pending and no round of the disease is live, in one
transaction: the new checkpoint, its promotion decision and the contributions' new status
commit together (the artifact is stored first: an orphan file at worst).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.core.errors import Conflict, InvalidInput
from medfed.core.faults import crash_point
from medfed.core.numbers import json_safe
from medfed.fl import promotion
from medfed.fl import rounds as machine
from medfed.fl.buffered import BufferSettings, buffered_step
from medfed.server.db.engine import transaction
from medfed.server.db.tables import Contribution, ContributionBuffer, ModelVersion
from medfed.server.services import audit, registry, rounds
from medfed.server.services.holdout import evidence_from

if TYPE_CHECKING:
    from medfed.server.services.round_driver import RoundServices

logger = logging.getLogger("medfed.buffered")
PENDING = "pending"


def settings_of(buffer: ContributionBuffer) -> BufferSettings:
    return BufferSettings.from_dict(buffer.settings)


def get_buffer(session: Session, disease: str, *, lock: bool = False) -> ContributionBuffer | None:
    query = select(ContributionBuffer).where(ContributionBuffer.disease == disease)
    return session.scalar(query.with_for_update() if lock else query)


def pending(session: Session, disease: str) -> list[Contribution]:
    return list(
        session.scalars(
            select(Contribution)
            .where(Contribution.disease == disease, Contribution.status == PENDING)
            .order_by(Contribution.id)
        )
    )


def fill(session: Session, disease: str) -> tuple[int, int]:
    """How many contributions wait for the disease's buffer, and how many it needs."""
    buffer = get_buffer(session, disease)
    waiting = len(pending(session, disease))
    return waiting, settings_of(buffer).size if buffer else waiting


def enable(
    session: Session, disease: str, settings: BufferSettings, *, actor: str
) -> ContributionBuffer:
    spec = get_disease(disease)
    problems = settings.problems()
    if problems:
        raise InvalidInput(
            "The buffer cannot be switched on: " + "; ".join(t for _, t in problems) + ".",
            field=problems[0][0],
        )
    buffer = get_buffer(session, spec.id, lock=True)
    if buffer is None:
        buffer = ContributionBuffer(disease=spec.id, settings={}, enabled_by=actor)
        session.add(buffer)
    buffer.settings = settings.as_dict()
    buffer.enabled_by = actor
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.BUFFER_ENABLED,
        object=f"model:{spec.id}",
        details=settings.as_dict(),
    )
    return buffer


def disable(session: Session, disease: str, *, actor: str) -> int:
    """Switch the buffer off; its pending contributions are discarded (never used), counted."""
    spec = get_disease(disease)
    buffer = get_buffer(session, spec.id, lock=True)
    if buffer is None:
        raise Conflict(f"Buffered contributions are already off for {spec.title}.")
    waiting = pending(session, spec.id)
    for contribution in waiting:
        contribution.status = "discarded"
    session.delete(buffer)
    audit.record(
        session,
        actor=actor,
        action=AuditAction.BUFFER_DISABLED,
        object=f"model:{spec.id}",
        details={"discarded": len(waiting)},
    )
    return len(waiting)


def staleness(session: Session, base: ModelVersion) -> int:
    """Checkpoints on the training line newer than `base`."""
    newer = [
        v
        for v in registry.versions(session, base.disease)
        if (v.major, v.minor) > (base.major, base.minor)
    ]
    return len(newer)


def check_incoming(
    session: Session, base: ModelVersion, vector: np.ndarray, epsilon: float | None
) -> BufferSettings:
    """Refuse, with the reason, a contribution the buffer could never use."""
    spec = get_disease(base.disease)
    buffer = get_buffer(session, base.disease)
    if buffer is None:
        raise Conflict(
            f"Buffered contributions are off for {spec.title}, so this update could never be "
            "used; it was not stored. Join the next round instead, or ask an administrator to "
            "switch buffered contributions on.",
            field="disease",
        )
    settings = settings_of(buffer)
    behind = staleness(session, base)
    if behind > settings.max_staleness:
        head = registry.training_head(session, base.disease)
        raise Conflict(
            f"The update was trained from {base.version}, {behind} checkpoints behind the training "
            f"line's {head.version} (at most {settings.max_staleness} are accepted): it is too "
            "stale to use. Train again from the current checkpoint.",
            field="base_version",
        )
    if settings.require_dp and epsilon is None:
        raise InvalidInput(
            "Buffered updates are seen by the server one by one, so they must be trained with "
            "differential privacy (epsilon is missing).",
            field="epsilon",
        )
    try:
        machine.check_update(vector, vector.shape[0], settings.norm_bound)
    except machine.UpdateRefused as refused:
        raise InvalidInput(f"The update is refused: {refused}.", field="update") from None
    return settings


@dataclass(frozen=True)
class BufferState:
    disease: str
    settings: BufferSettings
    pending: int
    enabled_by: str


def states(session: Session) -> list[BufferState]:
    return [
        BufferState(b.disease, settings_of(b), len(pending(session, b.disease)), b.enabled_by)
        for b in session.scalars(select(ContributionBuffer).order_by(ContributionBuffer.disease))
    ]


# The ticker's side ---------------------------------------------------------------------------


def flush(services: RoundServices, disease: str) -> ModelVersion | None:
    """Aggregate the buffer if it is full and no round of the disease is live."""
    with transaction(services.factory) as session:
        buffer = get_buffer(session, disease, lock=True)
        if buffer is None or rounds.live_round(session, disease) is not None:
            return None
        settings = settings_of(buffer)
        waiting = pending(session, disease)
        if len(waiting) < settings.size:
            return None
        usable: list[tuple[Contribution, int]] = []
        for contribution in waiting:
            base = session.get(ModelVersion, contribution.base_version_id)
            assert base is not None
            behind = staleness(session, base)
            if behind > settings.max_staleness:
                contribution.status = "stale"
                audit.record(
                    session,
                    actor=audit.SYSTEM_ACTOR,
                    action=AuditAction.CONTRIBUTION_STALE,
                    object=f"contribution:{contribution.id}",
                    details={"base": base.version, "behind": behind},
                )
            else:
                usable.append((contribution, behind))
        if len(usable) < settings.size:
            return None
        return _aggregate(services, session, disease, settings, usable)


def _aggregate(
    services: RoundServices,
    session: Session,
    disease: str,
    settings: BufferSettings,
    usable: list[tuple[Contribution, int]],
) -> ModelVersion:
    head = registry.training_head(session, disease)
    head_model = services.cache.get(head)
    updates = np.stack(
        [np.frombuffer(c.update_blob, dtype="<f4").astype(np.float64) for c, _ in usable]
    )
    step = buffered_step(
        updates,
        np.asarray([c.rows for c, _ in usable]),
        np.asarray([behind for _, behind in usable]),
        settings.server_learning_rate,
    )
    candidate = head_model.with_parameters(head_model.parameters + step)
    served = registry.active_version(session, disease)
    server = services.holdout.compare(services.cache.get(served), candidate)
    decision = promotion.decide(
        evidence_from(server, []),
        settings.metric,
        margin=settings.tolerance,
        level=settings.confidence,
    )
    metrics = dict(server["candidate"]) if server else dict(head.metrics)
    hospitals = {c.hospital_id for c, _ in usable}
    provenance: dict[str, Any] = {
        "source": "buffered contributions",
        "base": head.version,
        "contributions": [c.id for c, _ in usable],
        "staleness": [behind for _, behind in usable],
        "hospitals": len(hospitals),
        "rows": sum(c.rows for c, _ in usable),
    }
    card = {
        **head.card,
        "metrics": metrics,
        "calibration": services.holdout.calibration(candidate),
        "training": {
            "buffered contributions": len(usable),
            "from version": head.version,
            "server learning rate": settings.server_learning_rate,
            "staleness weighting": "rows / sqrt(1 + versions behind)",
            "secure aggregation": False,
        },
        "promotion": {**decision.evidence, "promote": decision.promote, "reason": decision.reason},
    }
    version = registry.register_version(
        session,
        services.store,
        candidate,
        metrics=json_safe(metrics),
        card=json_safe(card),
        provenance=provenance,
        contributing_hospitals=max(head.contributing_hospitals, len(hospitals)),
        activate=decision.promote,
        actor=audit.SYSTEM_ACTOR,
        major=head.major,
        stage="promoted" if decision.promote else "trained",
    )
    for contribution, _ in usable:
        contribution.status = "aggregated"
    session.flush()
    crash_point(services.settings, "buffer:before_commit")
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action=AuditAction.BUFFER_AGGREGATED,
        object=f"model:{disease}:{version.version}",
        details={
            "contributions": len(usable),
            "hospitals": len(hospitals),
            "promoted": decision.promote,
            "reason": decision.reason[:300],
        },
    )
    return version


def flush_all(services: RoundServices) -> dict[str, str]:
    with services.read_factory() as session:
        diseases = list(session.scalars(select(ContributionBuffer.disease)))
    made: dict[str, str] = {}
    for disease in diseases:
        try:
            version = flush(services, disease)
        except Exception:  # one disease's trouble must not stop the others
            logger.exception("the %s buffer could not be aggregated", disease)
            continue
        if version is not None:
            made[disease] = version.version
    return made
