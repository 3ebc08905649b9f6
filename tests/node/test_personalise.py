"""The hospital's own model beside the network's: fine-tuned with DP at the node, kept with both
models' scores on the same local validation rows, and predictions from both side by side."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.core.config import load_settings
from medfed.core.errors import InvalidInput, NotFound
from medfed.node.held_models import held
from medfed.node.local_api import create_local_app
from medfed.node.local_predict import predict_both
from medfed.node.state import NodeState
from tests.node.conftest import LiveNetwork, admin_headers, site_csv
from tests.utils.processes import run_medfed

PATIENT = {
    "age": 63,
    "sex": "male",
    "chest_pain": "asymptomatic",
    "resting_bp": 145,
    "cholesterol": 233,
    "fasting_blood_sugar_high": True,
    "resting_ecg": "normal",
    "max_heart_rate": 150,
    "exercise_angina": False,
    "st_depression": 2.3,
}


def _enrolled(live_network: LiveNetwork) -> None:
    token = live_network.new_enrollment_token("Swiss Cardiology")
    enrolled = run_medfed(
        ["node", "enroll", "--server", live_network.server.url, "--token", token],
        live_network.env,
    )
    assert enrolled.returncode == 0, enrolled.stderr


@pytest.mark.slow
def test_personalise_keeps_both_models_and_predicts_with_each(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path, trained_db: Session
) -> None:
    home = live_network.node_home
    with pytest.raises(NotFound, match="holds no heart disease model yet"):
        predict_both(home, "heart", PATIENT)
    _enrolled(live_network)
    csv_path = site_csv(datasets_dir, "hungarian", tmp_path / "hungarian.csv")
    done = run_medfed(
        ["node", "personalise", str(csv_path), "--disease", "heart", "--epochs", "3"],
        live_network.env,
    )
    assert done.returncode == 0, done.stderr
    assert "this hospital's own" in done.stdout
    served, own = held(home, "heart")
    assert (served.kind, own.kind) == ("global", "local")
    assert own.base_version == served.version and own.version.startswith(served.version + "+local")
    assert served.metrics["rows"] == own.metrics["rows"] > 0  # the same validation rows
    assert own.epsilon is not None and own.epsilon > 0
    assert NodeState(home).spent("heart").epsilon == pytest.approx(own.epsilon)  # in the ledger

    answer = predict_both(home, "heart", PATIENT)
    kinds = [a["kind"] for a in answer["answers"]]
    assert kinds == ["global", "local"]
    for model in answer["answers"]:
        assert 0 < model["probability"] < 1 and len(model["factors"]) == 3
    probabilities = {a["kind"]: a["probability"] for a in answer["answers"]}
    assert probabilities["global"] != probabilities["local"]  # fine-tuning changed the model
    assert "validation rows" in answer["comparison"]
    with pytest.raises(InvalidInput, match="Age"):
        predict_both(home, "heart", {**PATIENT, "age": 400})

    shown = run_medfed(
        ["node", "predict", "--disease", "heart", "--json", json.dumps(PATIENT)], live_network.env
    )
    assert shown.returncode == 0, shown.stderr
    assert "network's model" in shown.stdout and "this hospital's own model" in shown.stdout
    listed = run_medfed(["node", "models"], live_network.env)
    assert served.version in listed.stdout and "own" in listed.stdout

    app = create_local_app(load_settings(node_home=home))
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        assert len(client.get("/api/models").json()["models"]) == 2
        predicted = client.post("/api/predict", json={"disease": "heart", "patient": PATIENT})
        assert predicted.status_code == 200 and len(predicted.json()["answers"]) == 2
        refused = client.post("/api/predict", json={"disease": "heart", "patient": {"age": "x"}})
        assert refused.status_code == 422
        inputs = client.get("/api/diseases/heart").json()["features"]
        assert [f["name"] for f in inputs][:2] == ["age", "sex"]

    # The network sees which models the node holds (personalise reported them), counts only.
    headers = admin_headers(live_network.server, trained_db)
    nodes = [
        n
        for h in httpx.get(live_network.server.url + "/api/v1/network", headers=headers).json()
        for n in h["nodes"]
    ]
    held_there = [(m["kind"], m["version"]) for n in nodes for m in n["models_held"]]
    assert held_there == [("global", served.version), ("local", own.version)]
    # A hospital that does not share its inventory tells only its software version.
    assert (
        run_medfed(["node", "policy", "set", "--no-share-inventory"], live_network.env).returncode
        == 0
    )
    assert "nothing else to share" in run_medfed(["node", "report"], live_network.env).stdout
    nodes = [
        n
        for h in httpx.get(live_network.server.url + "/api/v1/network", headers=headers).json()
        for n in h["nodes"]
    ]
    assert [n["models_held"] for n in nodes] == [[]] and nodes[0]["registered"] is None
