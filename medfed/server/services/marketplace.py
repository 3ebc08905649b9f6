"""The model marketplace: each disease with its active version's headline numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.catalog import DiseaseSpec, load_catalog
from medfed.core.errors import NotFound
from medfed.server.db.tables import ModelVersion, Round
from medfed.server.services import registry


def active_or_none(session: Session, disease: str) -> ModelVersion | None:
    try:
        return registry.active_version(session, disease)
    except NotFound:
        return None


def summary(spec: DiseaseSpec, active: ModelVersion | None) -> dict[str, Any]:
    metrics = active.metrics if active else {}
    return {
        "disease": spec.id,
        "title": spec.title,
        "description": spec.description,
        "active_version": active.version if active else None,
        "accuracy": metrics.get("accuracy"),
        "roc_auc": metrics.get("roc_auc"),
        "contributing_hospitals": active.contributing_hospitals if active else 0,
        "last_updated": active.created_at if active else None,
        "outcome_kind": "categorical" if spec.categorical else "binary",
        "classes": list(spec.class_labels),
    }


def listing(session: Session) -> list[dict[str, Any]]:
    return [
        summary(spec, active_or_none(session, disease)) for disease, spec in load_catalog().items()
    ]


def matches(card: dict[str, Any], query: str) -> bool:
    """Case-insensitive search over the disease's id, title and description."""
    text = f"{card['disease']} {card['title']} {card['description']}".lower()
    return all(word in text for word in query.lower().split())


@dataclass(frozen=True)
class TrainingLine:
    """What a doctor is told of the training line behind the version they get."""

    served: str
    head: str  # the newest checkpoint, where the next round starts
    last_improved_at: datetime | None  # the last round whose checkpoint was promoted
    last_improved_round: int | None
    trained_since: int  # checkpoints after the served version, not promoted


def training_line(session: Session, disease: str, active: ModelVersion) -> TrainingLine:
    last = session.scalar(
        select(Round)
        .where(Round.disease == disease, Round.status == "deployed")
        .order_by(Round.closed_at.desc(), Round.id.desc())
        .limit(1)
    )
    newer = [
        v
        for v in registry.versions(session, disease)
        if (v.major, v.minor) > (active.major, active.minor) and v.stage == "trained"
    ]
    return TrainingLine(
        served=active.version,
        head=registry.training_head(session, disease).version,
        last_improved_at=last.closed_at if last else None,
        last_improved_round=last.number if last else None,
        trained_since=len(newer),
    )
