"""The model registry: immutable versions per disease, exactly one active, artifacts in a store."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.ml.model import DiseaseModel
from medfed.server.db.tables import Challenger, ModelVersion
from medfed.server.services import audit
from medfed.server.storage import ArtifactStore


def parse_version(label: str) -> tuple[int, int]:
    """'v1.2' -> (1, 2)."""
    try:
        major, minor = label.strip().removeprefix("v").split(".")
        return int(major), int(minor)
    except ValueError:
        raise InvalidInput(f"{label!r} is not a version like v1.2.", field="base_version") from None


def versions(session: Session, disease: str) -> list[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.disease == disease)
    return list(session.scalars(query.order_by(ModelVersion.major, ModelVersion.minor)))


def has_versions(session: Session, disease: str) -> bool:
    count = session.scalar(
        select(func.count()).select_from(ModelVersion).where(ModelVersion.disease == disease)
    )
    return bool(count)


def find_version(session: Session, disease: str, version_label: str) -> ModelVersion:
    spec = get_disease(disease)
    major, minor = parse_version(version_label)
    found = session.scalar(
        select(ModelVersion).where(
            ModelVersion.disease == spec.id,
            ModelVersion.major == major,
            ModelVersion.minor == minor,
        )
    )
    if found is None:
        raise NotFound(f"{spec.title} has no version {version_label}.", field="version")
    return found


def training_head(session: Session, disease: str) -> ModelVersion:
    """Where the next round of a disease starts: the newest version on its training line,
    promoted or not. Serving (the active version, rollback, A/B) does not move it."""
    head = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.disease == disease)
        .order_by(ModelVersion.major.desc(), ModelVersion.minor.desc())
        .limit(1)
    )
    return head if head is not None else active_version(session, disease)


def active_version(session: Session, disease: str) -> ModelVersion:
    spec = get_disease(disease)
    version = session.scalar(
        select(ModelVersion).where(ModelVersion.disease == disease, ModelVersion.is_active)
    )
    if version is None:
        raise no_model(spec.id)
    return version


def no_model(disease: str) -> NotFound:
    """The error for a disease with no active version, saying what to do."""
    return NotFound(
        f"{get_disease(disease).title} has no model yet. An administrator can train the "
        "baseline with `medfed models baselines`.",
        field="disease",
    )


def register_version(
    session: Session,
    store: ArtifactStore,
    model: DiseaseModel,
    *,
    metrics: dict[str, Any],
    card: dict[str, Any],
    provenance: dict[str, Any],
    contributing_hospitals: int,
    activate: bool,
    actor: str,
    major: int = 1,
    stage: str = "promoted",
) -> ModelVersion:
    """Store the artifact first, then the row: a crash leaves at most an unreferenced file."""
    blob = model.to_bytes()
    key = store.put(blob)
    latest = session.scalar(
        select(func.max(ModelVersion.minor)).where(
            ModelVersion.disease == model.disease, ModelVersion.major == major
        )
    )
    minor = 0 if latest is None else latest + 1
    if stage not in ("promoted", "trained") or (activate and stage != "promoted"):
        raise ValueError(f"a version is promoted or trained, and only promoted ones serve: {stage}")
    if activate:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.disease == model.disease)
            .values(is_active=False)
        )
    version = ModelVersion(
        disease=model.disease,
        major=major,
        minor=minor,
        status="deployed",
        stage=stage,
        is_active=activate,
        schema_hash=model.schema_hash,
        architecture=model.architecture.describe(),
        artifact_key=key,
        artifact_size=len(blob),
        metrics=metrics,
        card={**card, "version": f"v{major}.{minor}"},
        provenance=provenance,
        contributing_hospitals=contributing_hospitals,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.MODEL_VERSION_CREATED,
        object=f"model:{model.disease}:{version.version}",
        details={
            "active": activate,
            "stage": stage,
            "source": provenance.get("source"),
            "artifact": key,
        },
    )
    return version


@dataclass(frozen=True)
class Served:
    """What a prediction needs of the version that serves it (not its card or metrics)."""

    id: int
    version: str
    artifact_key: str


class ModelCache:
    """Loaded models by artifact key; artifacts are immutable, so entries never go stale."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._models: dict[str, DiseaseModel] = {}
        self._lock = threading.Lock()

    def get(self, version: ModelVersion | Served) -> DiseaseModel:
        model = self._models.get(version.artifact_key)
        if model is None:
            model = DiseaseModel.from_bytes(self.store.get(version.artifact_key))
            with self._lock:
                self._models[version.artifact_key] = model
        return model


def activate(
    session: Session, disease: str, version_label: str, *, reason: str, actor: str
) -> ModelVersion:
    """Make any deployed version the active one (a rollback, a roll-forward, or an administrator
    promoting a trained checkpoint by hand); reason required."""
    spec = get_disease(disease)
    if len(reason.strip()) < 5:
        raise InvalidInput(
            "Give a reason (at least 5 characters); it goes to the audit trail.", field="reason"
        )
    target = find_version(session, spec.id, version_label)
    if target.status != "deployed":
        raise Conflict(
            f"{target.version} was {target.status} and cannot be made active.", field="version"
        )
    previous = session.scalar(
        select(ModelVersion).where(ModelVersion.disease == spec.id, ModelVersion.is_active)
    )
    if previous is not None and previous.id == target.id:
        raise Conflict(
            f"{target.version} is already the active {spec.title} model.", field="version"
        )
    session.execute(
        update(ModelVersion).where(ModelVersion.disease == spec.id).values(is_active=False)
    )
    # A challenger that becomes the active version has won (or been rolled back to): its A/B ends.
    session.execute(
        delete(Challenger).where(Challenger.disease == spec.id, Challenger.version_id == target.id)
    )
    session.flush()
    target.is_active = True
    promoted_by_hand = target.stage != "promoted"
    target.stage = "promoted"
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.MODEL_ACTIVATED,
        object=f"model:{spec.id}:{target.version}",
        details={
            "previous": previous.version if previous else None,
            "reason": reason.strip()[:500],
            "promoted_by_hand": promoted_by_hand,
        },
    )
    return target
