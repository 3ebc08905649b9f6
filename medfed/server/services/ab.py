"""A/B deployment: a challenger version served to a stable share of doctors.

A doctor's arm depends only on their user id and the disease (a hash), so the same doctor
always sees the same version while the share is unchanged, and raising the share only moves
doctors from the active arm to the challenger, never back.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, func, or_, select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.server.db.tables import Challenger, ModelVersion, Prediction
from medfed.server.services import audit, registry
from medfed.server.services.registry import Served

ACTIVE = "active"
CHALLENGER = "challenger"


def bucket(user_id: int, disease: str) -> float:
    """A number in [0, 1) fixed for this doctor and disease."""
    digest = hashlib.sha256(f"medfed-ab:{disease}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(user_id: int, disease: str, share: float) -> str:
    return CHALLENGER if bucket(user_id, disease) < share else ACTIVE


def get_challenger(session: Session, disease: str) -> Challenger | None:
    return session.get(Challenger, disease)


# Built once: the version of each arm of a disease (the active one, and the challenger if any)
# in one indexed query that skips the ORM, which a prediction runs on every request.
_SERVING = (
    select(
        Challenger.share,
        ModelVersion.is_active,
        ModelVersion.id,
        ModelVersion.major,
        ModelVersion.minor,
        ModelVersion.artifact_key,
    )
    .outerjoin(
        Challenger,
        (Challenger.version_id == ModelVersion.id) & (Challenger.disease == ModelVersion.disease),
    )
    .where(
        ModelVersion.disease == bindparam("disease"),
        ModelVersion.is_active | Challenger.disease.is_not(None),
    )
)


def serving_version(connection: Connection, disease: str, user_id: int) -> tuple[Served, str]:
    """The version that serves this doctor, and the arm it belongs to: one small indexed query,
    read afresh on every request so a promotion or rollback in any server process applies at
    once (the model behind it is cached by its immutable artifact key)."""
    rows = connection.execute(_SERVING, {"disease": disease}).all()
    challenger = next((row for row in rows if row.share is not None), None)
    if challenger is not None and assign_arm(user_id, disease, challenger.share) == CHALLENGER:
        return _served(challenger), CHALLENGER
    active = next((row for row in rows if row.is_active), None)
    if active is None:
        raise registry.no_model(disease)
    return _served(active), ACTIVE


def _served(row: Any) -> Served:
    return Served(row.id, f"v{row.major}.{row.minor}", row.artifact_key)


def set_challenger(
    session: Session, disease: str, version_label: str, share: float, *, reason: str, actor: str
) -> Challenger:
    spec = get_disease(disease)
    if not 0 < share < 1:
        raise InvalidInput("The share must be between 0 and 1 (e.g. 0.2 for 20 %).", field="share")
    if len(reason.strip()) < 5:
        raise InvalidInput("Give a reason (at least 5 characters).", field="reason")
    version = registry.find_version(session, spec.id, version_label)
    if version.status != "deployed":
        raise Conflict(f"{version.version} was {version.status}; it cannot serve.", field="version")
    if version.is_active:
        raise Conflict(
            f"{version.version} is already the active version; choose another as challenger.",
            field="version",
        )
    challenger = get_challenger(session, spec.id)
    if challenger is None:
        challenger = Challenger(
            disease=spec.id, version_id=version.id, share=share, started_by=actor
        )
        session.add(challenger)
    else:
        challenger.version_id, challenger.share, challenger.started_by = version.id, share, actor
    session.flush()
    session.refresh(challenger)
    audit.record(
        session,
        actor=actor,
        action=AuditAction.CHALLENGER_SET,
        object=f"model:{spec.id}:{version.version}",
        details={"share": share, "reason": reason.strip()[:500]},
    )
    return challenger


def end_challenger(session: Session, disease: str, *, actor: str, reason: str) -> None:
    spec = get_disease(disease)
    challenger = get_challenger(session, spec.id)
    if challenger is None:
        raise NotFound(f"{spec.title} has no challenger.")
    label = challenger.version.version
    session.delete(challenger)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.CHALLENGER_ENDED,
        object=f"model:{spec.id}:{label}",
        details={"reason": reason[:500]},
    )


def arm_usage(session: Session, disease: str) -> list[dict[str, Any]]:
    """Per version and arm: predictions served, outcomes recorded, and accuracy on those outcomes."""
    spec = get_disease(disease)
    if spec.categorical:  # the predicted class is the band stored, in the classes' order
        hit = or_(
            *(
                (Prediction.risk_band == band.name) & (Prediction.outcome == index)
                for index, band in enumerate(spec.bands)
            )
        )
        correct = func.sum(func.coalesce(hit.cast(Integer), 0))
    else:
        predicted_positive = Prediction.probability >= 0.5
        correct = func.sum(
            func.coalesce(
                ((Prediction.outcome == 1) & predicted_positive).cast(Integer)
                + ((Prediction.outcome == 0) & ~predicted_positive).cast(Integer),
                0,
            )
        )
    rows = session.execute(
        select(
            ModelVersion.major,
            ModelVersion.minor,
            Prediction.arm,
            func.count(Prediction.id),
            func.count(Prediction.outcome),
            correct,
        )
        .join(ModelVersion, ModelVersion.id == Prediction.model_version_id)
        .where(Prediction.disease == spec.id)
        .group_by(ModelVersion.major, ModelVersion.minor, Prediction.arm)
        .order_by(ModelVersion.major, ModelVersion.minor, Prediction.arm)
    ).all()
    return [
        {
            "version": f"v{major}.{minor}",
            "arm": arm,
            "predictions": int(count),
            "outcomes": int(outcomes),
            "outcome_accuracy": round(int(hits) / outcomes, 4) if outcomes else None,
        }
        for major, minor, arm, count, outcomes, hits in rows
    ]
