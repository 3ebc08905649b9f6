from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from medfed.core.errors import ServiceUnavailable
from medfed.server.db.tables import ModelVersion
from medfed.server.services import registry
from medfed.server.storage import LocalArtifactStore


def test_new_versions_count_up_and_only_one_is_active(
    trained_db: Session, trained_settings: Settings, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    base = registry.active_version(trained_db, "heart")
    model = registry.ModelCache(LocalArtifactStore(trained_settings.resolved_artifacts_dir)).get(
        base
    )
    second = registry.register_version(
        trained_db,
        store,
        model.with_parameters(model.parameters * 0.5),
        metrics={"accuracy": 0.5},
        card={},
        provenance={"source": "test"},
        contributing_hospitals=2,
        activate=True,
        actor="test",
    )
    trained_db.commit()
    assert second.version == "v1.1"
    assert registry.active_version(trained_db, "heart").id == second.id
    assert [v.is_active for v in registry.versions(trained_db, "heart")] == [False, True]


def test_the_database_refuses_two_active_versions(trained_db: Session) -> None:
    active = registry.active_version(trained_db, "heart")
    copied = {
        column: getattr(active, column)
        for column in (
            "disease",
            "status",
            "schema_hash",
            "architecture",
            "artifact_key",
            "artifact_size",
            "metrics",
            "card",
            "provenance",
            "contributing_hospitals",
        )
    }
    trained_db.add(ModelVersion(**copied, major=1, minor=99, is_active=True))
    with pytest.raises(IntegrityError):
        trained_db.flush()
    trained_db.rollback()


def test_artifacts_are_content_addressed_and_checked(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    key = store.put(b"weights")
    assert store.put(b"weights") == key and store.get(key) == b"weights"
    (tmp_path / key[:2] / key).write_bytes(b"tampered")
    with pytest.raises(ServiceUnavailable, match="corrupted"):
        store.get(key)
    with pytest.raises(ServiceUnavailable, match="missing"):
        store.get("0" * 64)
