"""The model marketplace: each disease with its active version's headline numbers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from medfed.core.catalog import DiseaseSpec, load_catalog
from medfed.core.errors import NotFound
from medfed.server.db.tables import ModelVersion
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
    }


def listing(session: Session) -> list[dict[str, Any]]:
    return [
        summary(spec, active_or_none(session, disease)) for disease, spec in load_catalog().items()
    ]


def matches(card: dict[str, Any], query: str) -> bool:
    """Case-insensitive search over the disease's id, title and description."""
    text = f"{card['disease']} {card['title']} {card['description']}".lower()
    return all(word in text for word in query.lower().split())
