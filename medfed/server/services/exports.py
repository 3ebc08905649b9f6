"""A model version for use outside MedFed: its ONNX file (preprocessing included)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.ml.onnx_export import export
from medfed.server.db.tables import User
from medfed.server.services import audit, registry


def onnx_file(
    session: Session, cache: registry.ModelCache, user: User, disease: str, version_label: str
) -> bytes:
    """The version's ONNX graph; who took it is audited (in the caller's transaction)."""
    spec = get_disease(disease)
    version = registry.find_version(session, spec.id, version_label)
    blob = export(spec, cache.get(version), version.version, version.card or {})
    audit.record(
        session,
        actor=audit.user_actor(user.username),
        action=AuditAction.MODEL_EXPORTED,
        object=f"model:{spec.id}:{version.version}",
        details={"format": "onnx", "bytes": len(blob)},
    )
    return blob
