"""Every served model downloads as ONNX and onnxruntime reproduces MedFed's probabilities on
the public held-out split, missing values included; the download is audited."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.catalog import load_catalog
from medfed.ml.datasets import load_dataset
from medfed.ml.model import DiseaseModel
from medfed.ml.onnx_export import raw_matrix
from medfed.ml.splits import baseline_split
from medfed.server.db.tables import AuditEvent
from medfed.server.services import registry
from medfed.server.storage import LocalArtifactStore
from tests.factories import make_logged_in


def test_each_served_model_as_onnx_reproduces_medfeds_probabilities(
    trained_client: TestClient,
    trained_db: Session,
    trained_settings,
    datasets_dir,  # type: ignore[no-untyped-def]
) -> None:
    scientist = make_logged_in(trained_client, trained_db, "data_scientist")
    store = LocalArtifactStore(trained_settings.resolved_artifacts_dir)
    for disease, spec in load_catalog().items():
        answer = trained_client.get(
            f"/api/v1/models/{disease}/versions/v1.0/onnx", headers=scientist.headers
        )
        assert answer.status_code == 200, answer.text
        assert f'filename="medfed-{disease}-v1.0.onnx"' in answer.headers["content-disposition"]
        graph = onnx.load_from_string(answer.content)
        meta = {p.key: p.value for p in graph.metadata_props}
        assert meta["medfed.disease"] == disease and meta["medfed.version"] == "v1.0"
        card = json.loads(meta["medfed.model_card"])
        assert card["metrics"]["roc_auc"] > 0.5
        assert [f["name"] for f in json.loads(meta["medfed.features"])] == [
            f.name for f in spec.features
        ]
        version = registry.find_version(trained_db, disease, "v1.0")
        model = DiseaseModel.from_bytes(store.get(version.artifact_key))
        trained_db.rollback()  # on SQLite an open transaction would hold the server's writes
        data = load_dataset(spec, datasets_dir)
        _, test = baseline_split(spec, data)
        rows = [data.rows[i] for i in test]
        rows[0] = {name: None for name in rows[0]}  # every value missing: imputed alike
        session = onnxruntime.InferenceSession(answer.content, providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"features": raw_matrix(spec, rows)})
        assert float(np.max(np.abs(got - model.predict_proba(rows)))) <= 1e-5, disease
    trained_db.rollback()
    exported = trained_db.scalars(
        select(AuditEvent).where(AuditEvent.action == "model_exported")
    ).all()
    assert {e.object for e in exported} >= {f"model:{d}:v1.0" for d in load_catalog()}


def test_an_unknown_version_is_404_and_hospital_staff_cannot_download(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    missing = trained_client.get("/api/v1/models/heart/versions/v9.9/onnx", headers=doctor.headers)
    assert missing.status_code == 404 and "v9.9" in missing.text
    staff = make_logged_in(trained_client, trained_db, "hospital")
    refused = trained_client.get("/api/v1/models/heart/versions/v1.0/onnx", headers=staff.headers)
    assert refused.status_code == 403
