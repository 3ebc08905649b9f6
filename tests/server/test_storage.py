"""Artifacts in a real S3-compatible server: content addresses checked on every read, a
tampered object detected, an unreachable service a clear 503 with nothing half-written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medfed.core.config import Settings
from medfed.core.errors import ServiceUnavailable
from medfed.server.app import create_app
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.storage import LocalArtifactStore, S3ArtifactStore, make_store
from tests.factories import make_node
from tests.utils.object_storage import KEY_ID, SECRET, ObjectStorage, running_object_storage


@pytest.fixture
def storage() -> Iterator[ObjectStorage]:
    with running_object_storage() as running:
        yield running


def _settings(storage: ObjectStorage, tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        home=tmp_path / "home",
        storage_url="s3://medfed/artifacts/v1",
        s3_endpoint_url=storage.endpoint,
        s3_access_key_id=KEY_ID,
        s3_secret_access_key=SECRET,
        **extra,  # type: ignore[arg-type]
    )


def test_artifacts_round_trip_by_content_address(storage: ObjectStorage, tmp_path: Path) -> None:
    store = make_store(_settings(storage, tmp_path))
    assert isinstance(store, S3ArtifactStore)
    blob = b"weights" * 1000
    key = store.put(blob)
    assert key == hashlib.sha256(blob).hexdigest()
    assert store.put(blob) == key  # the same bytes, the same object
    assert store.exists(key) and store.get(key) == blob
    names = [o["Key"] for o in storage.client().list_objects_v2(Bucket="medfed")["Contents"]]
    assert names == [f"artifacts/v1/{key[:2]}/{key}"]
    assert not store.exists("0" * 64)
    with pytest.raises(ServiceUnavailable, match="missing from s3://medfed/artifacts/v1/"):
        store.get("0" * 64)
    with pytest.raises(ValueError):
        store.get("../etc/passwd")


def test_a_tampered_object_is_detected_on_read(storage: ObjectStorage, tmp_path: Path) -> None:
    store = make_store(_settings(storage, tmp_path))
    key = store.put(b"the real weights")
    storage.client().put_object(
        Bucket="medfed", Key=f"artifacts/v1/{key[:2]}/{key}", Body=b"swapped weights"
    )
    with pytest.raises(ServiceUnavailable, match="corrupted"):
        store.get(key)


def test_unreachable_storage_is_a_clear_503_and_nothing_is_written(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    store = make_store(_settings(storage, tmp_path))
    storage.stop()
    for attempt in (lambda: store.put(b"new weights"), lambda: store.get("a" * 64)):
        with pytest.raises(ServiceUnavailable, match="cannot be reached") as refused:
            attempt()
        assert SECRET not in refused.value.message


def test_the_server_keeps_its_baselines_in_object_storage(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    settings = _settings(
        storage,
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'medfed.db'}",
        secret_key="storage-test-secret-key-0123456789-abcdef",
        train_baselines=True,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        listed = storage.client().list_objects_v2(Bucket="medfed", Prefix="artifacts/v1/")
        assert listed["KeyCount"] >= 5  # one baseline per disease at least
        assert not (tmp_path / "home" / "artifacts").exists()  # nothing on the local disk
        engine = make_engine(settings.resolved_database_url)
        with make_session_factory(engine)() as db:
            _, credential = make_node(db)
        engine.dispose()
        node = {"Authorization": f"Bearer {credential}"}
        model = client.get("/api/v1/nodes/models/heart", headers=node)
        assert model.status_code == 200 and model.content
        storage.stop()
        down = client.get("/api/v1/nodes/models/heart", headers=node)
        assert down.status_code == 503
        assert "object storage" in down.json()["error"]["message"]


def test_without_a_storage_url_artifacts_stay_on_disk(tmp_path: Path) -> None:
    store = make_store(Settings(home=tmp_path))
    assert isinstance(store, LocalArtifactStore) and store.root == tmp_path / "artifacts"


def test_a_storage_url_that_is_not_s3_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="storage_url"):
        Settings(storage_url="ftp://bucket/x")
