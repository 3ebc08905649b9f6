"""Receiving model updates and privacy-spend reports from hospitals' nodes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.server.db.tables import Contribution, ModelVersion, PrivacySpend
from medfed.server.services import audit, buffered
from medfed.server.services.enrollment import NodeRef
from medfed.server.services.registry import ModelCache, parse_version
from medfed.server.services.updates import decode_update


@dataclass(frozen=True)
class ContributionIn:
    disease: str
    base_version: str
    job_ref: str
    rows: int
    epsilon: float | None
    delta: float | None
    metrics: dict[str, Any]
    update: str | bytes | memoryview  # base64 text (JSON) or the raw bytes (a binary frame)


def receive(
    session: Session, cache: ModelCache, node: NodeRef, body: ContributionIn, *, min_rows: int
) -> Contribution:
    spec = get_disease(body.disease)
    major, minor = parse_version(body.base_version)
    base = session.scalar(
        select(ModelVersion).where(
            ModelVersion.disease == spec.id,
            ModelVersion.major == major,
            ModelVersion.minor == minor,
        )
    )
    if base is None:
        raise NotFound(f"{spec.title} has no version {body.base_version}.", field="base_version")
    if body.rows < min_rows:
        raise InvalidInput(
            f"{body.rows} rows is below the network's minimum of {min_rows}.", field="rows"
        )
    duplicate = session.scalar(
        select(Contribution.id).where(
            Contribution.node_id == node.id, Contribution.job_ref == body.job_ref
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"Job {body.job_ref} was already contributed (contribution {duplicate}).",
            field="job_ref",
        )
    vector = decode_update(body.update, cache.get(base).parameters.shape[0])
    buffered.check_incoming(session, base, vector, body.epsilon)
    blob = vector.tobytes()
    contribution = Contribution(
        hospital_id=node.hospital_id,
        node_id=node.id,
        disease=spec.id,
        base_version_id=base.id,
        job_ref=body.job_ref,
        rows=body.rows,
        epsilon=body.epsilon,
        delta=body.delta,
        metrics=body.metrics,
        update_blob=blob,
        update_sha256=hashlib.sha256(blob).hexdigest(),
    )
    session.add(contribution)
    session.flush()
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.CONTRIBUTION_RECEIVED,
        object=f"model:{spec.id}:{body.base_version}",
        details={"contribution_id": contribution.id, "rows": body.rows, "epsilon": body.epsilon},
    )
    return contribution


@dataclass(frozen=True)
class SpendIn:
    entry_ref: str
    disease: str
    epsilon: float
    delta: float


def record_spend(session: Session, node: NodeRef, entries: list[SpendIn]) -> int:
    """Idempotent: an entry already reported by this node is not counted again."""
    known = set(
        session.scalars(select(PrivacySpend.entry_ref).where(PrivacySpend.node_id == node.id))
    )
    added = 0
    for entry in entries:
        get_disease(entry.disease)
        if entry.entry_ref in known:
            continue
        session.add(
            PrivacySpend(
                hospital_id=node.hospital_id,
                node_id=node.id,
                disease=entry.disease,
                entry_ref=entry.entry_ref,
                epsilon=entry.epsilon,
                delta=entry.delta,
            )
        )
        known.add(entry.entry_ref)
        added += 1
    if added:
        audit.record(
            session,
            actor=audit.node_actor(node.id),
            action=AuditAction.PRIVACY_SPEND_REPORTED,
            object=f"hospital:{node.hospital_id}",
            details={"entries": added},
        )
    return added


def spend_by_disease(session: Session, hospital_id: int) -> dict[str, dict[str, float]]:
    rows = session.execute(
        select(
            PrivacySpend.disease,
            func.sum(PrivacySpend.epsilon),
            func.sum(PrivacySpend.delta),
            func.count(),
        )
        .where(PrivacySpend.hospital_id == hospital_id)
        .group_by(PrivacySpend.disease)
    ).all()
    return {
        disease: {"epsilon": float(e), "delta": float(d), "contributions": int(n)}
        for disease, e, d, n in rows
    }
