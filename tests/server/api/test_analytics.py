"""The analytics API: nodes answer by name over HTTP, the analyst reads and exports, and a
released network-wide mean becomes a new version's standardisation."""

from __future__ import annotations

import base64

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.analytics.query import Query, layout
from medfed.core.catalog import get_disease
from medfed.ml.model import DiseaseModel
from medfed.server.db.tables import ModelVersion
from medfed.server.services import analytics
from tests.factories import make_hospital, make_logged_in, make_node


def _mean_answer(count: float, mean: float, sd: float) -> str:
    """A hospital's cholesterol figures (scaled as the layout says), as a node would send."""
    spec = get_disease("heart")
    shape = layout(spec, Query("heart", "mean", feature="cholesterol"))
    low, high = shape.feature_range or (0, 0)
    centred = mean - (low + high) / 2
    raw = np.asarray([count, count * centred, count * (sd**2 + centred**2)])
    scaled = raw / np.asarray(shape.sensitivity)
    return base64.b64encode(scaled.astype("<f8").tobytes()).decode()


def test_answers_by_name_over_http_then_a_new_standardisation(
    trained_client: TestClient, trained_db: Session
) -> None:
    scientist = make_logged_in(trained_client, trained_db, "data_scientist")
    credentials = [
        make_node(trained_db, make_hospital(trained_db, name), name=name)[1]
        for name in ("Site A", "Site B")
    ]
    nodes = [{"Authorization": f"Bearer {c}"} for c in credentials]
    trained_db.rollback()  # on SQLite an open read holds the write turn the app needs
    body = {
        "disease": "heart", "kind": "mean", "feature": "cholesterol", "per_site": True,
        "epsilon": 5.0, "collect_seconds": 600,
    }  # fmt: skip
    asked = trained_client.post("/api/v1/analytics", json=body, headers=scientist.headers)
    assert asked.status_code == 201, asked.text
    query_id = asked.json()["id"]
    assert trained_client.post("/api/v1/analytics", json=body, headers=nodes[0]).status_code == 401
    listed = trained_client.get("/api/v1/nodes/analytics", headers=nodes[0]).json()
    assert [(q["id"], q["my_status"], q["per_site"]) for q in listed] == [(query_id, "asked", True)]
    early = trained_client.post(
        "/api/v1/analytics/standardisation",
        json={"disease": "heart", "query_ids": [query_id]},
        headers=scientist.headers,
    )
    assert early.status_code == 409 and "nothing was released" in early.text
    for headers, (mean, sd) in zip(nodes, [(240.0, 50.0), (260.0, 40.0)], strict=True):
        sent = trained_client.post(
            f"/api/v1/nodes/analytics/{query_id}/answer",
            json={"answer": _mean_answer(500, mean, sd), "epsilon": 5.0, "delta": 0.0},
            headers=headers,
        )
        assert sent.status_code == 201, sent.text
    bad = trained_client.post(
        f"/api/v1/nodes/analytics/{query_id}/answer",
        json={"answer": "not base64!", "epsilon": 5.0, "delta": 0.0},
        headers=nodes[0],
    )
    assert bad.status_code == 422 and "base64" in bad.text
    factory = trained_client.app.state.session_factory  # type: ignore[attr-defined]
    while analytics.advance(factory, query_id):  # as the ticker does (off in tests)
        pass
    released = trained_client.get(f"/api/v1/analytics/{query_id}", headers=scientist.headers)
    result = released.json()["result"]
    (network,) = result["network"]["cells"]
    assert abs(network["mean"] - 250.0) < 1.0 and 44 < network["sd"] < 50
    assert sorted(result["sites"]) == ["Site A", "Site B"]
    exported = trained_client.get(
        f"/api/v1/analytics/{query_id}/export?format=json", headers=scientist.headers
    )
    assert exported.json()["id"] == query_id
    assert "attachment" in exported.headers["content-disposition"]

    made = trained_client.post(
        "/api/v1/analytics/standardisation",
        json={"disease": "heart", "query_ids": [query_id]},
        headers=scientist.headers,
    )
    assert made.status_code == 201, made.text
    version = made.json()
    assert version["stage"] == "trained" and version["base"] == "v1.0"
    assert version["centres"]["cholesterol"] == [network["mean"], network["sd"]]
    detail = trained_client.get("/api/v1/models/heart", headers=scientist.headers).json()
    listed_versions = {v["version"]: v for v in detail["versions"]}
    assert listed_versions[version["version"]]["state"] == "trained"  # not served until promoted
    trained_db.rollback()
    row = trained_db.scalar(
        select(ModelVersion).where(ModelVersion.disease == "heart", ModelVersion.stage == "trained")
    )
    assert row is not None
    key = row.artifact_key
    trained_db.rollback()
    store = trained_client.app.state.artifact_store  # type: ignore[attr-defined]
    model = DiseaseModel.from_bytes(store.get(key))
    stat = next(s for s in model.preprocessor.stats if s.name == "cholesterol")
    assert (stat.mean, stat.scale) == (network["mean"], network["sd"])
    count = trained_client.post(
        "/api/v1/analytics",
        json={"disease": "heart", "kind": "count", "per_site": True, "mechanism": "laplace"},
        headers=scientist.headers,
    ).json()
    wrong = trained_client.post(
        "/api/v1/analytics/standardisation",
        json={"disease": "heart", "query_ids": [count["id"]]},
        headers=scientist.headers,
    )
    assert wrong.status_code == 422 and "takes a mean over all patients" in wrong.text


def test_bad_questions_are_refused_with_the_reason(client: TestClient, db: Session) -> None:
    scientist = make_logged_in(client, db, "data_scientist")
    cases = [
        ({"kind": "mean", "feature": "glucose"}, "has no feature 'glucose'"),
        ({"kind": "histogram", "feature": "age", "bins": [40, 30, 50]}, "must rise strictly"),
        ({"kind": "histogram", "feature": "age", "bins": [40, 40]}, "empty or overlapping"),
        ({"kind": "count", "breakdown": "age", "bands": [60, 40]}, "bands must rise strictly"),
        ({"kind": "count", "mechanism": "laplace"}, "does not add up across hospitals"),
        ({"kind": "count", "hospitals": ["Nowhere"]}, "No active node at Nowhere"),
        ({"kind": "count"}, "Only 0 hospitals have an active node"),
        ({"kind": "count", "epsilon": 50}, "epsilon"),
        ({"kind": "count", "min_hospitals": 1}, "min_hospitals"),
    ]
    for body, message in cases:
        refused = client.post(
            "/api/v1/analytics", json={"disease": "heart", **body}, headers=scientist.headers
        )
        assert refused.status_code in (409, 422), (body, refused.text)
        assert message in refused.text, (body, refused.text)
