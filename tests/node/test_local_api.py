from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from medfed.core.config import load_settings
from medfed.node.local_api import create_local_app
from tests.node.conftest import LiveNetwork, site_csv
from tests.utils.processes import run_medfed


def test_upload_validate_train_with_progress_and_contribute(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path
) -> None:
    token = live_network.new_enrollment_token("Hungarian Institute of Cardiology")
    assert (
        run_medfed(
            ["node", "enroll", "--server", live_network.server.url, "--token", token],
            live_network.env,
        ).returncode
        == 0
    )
    live_network.enable_buffer()
    app = create_local_app(load_settings(node_home=live_network.node_home))
    csv_path = site_csv(datasets_dir, "hungarian", tmp_path / "hungarian.csv")
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        assert client.get("/api/status").json()["hospital"] == "Hungarian Institute of Cardiology"
        with csv_path.open("rb") as handle:
            uploaded = client.post(
                "/api/uploads",
                files={"file": ("h.csv", handle, "text/csv")},
                data={"disease": "heart"},
            )
        assert uploaded.status_code == 200, uploaded.text
        report = uploaded.json()["report"]
        assert report["ok"] and report["valid_rows"] == 294
        started = client.post(
            "/api/jobs",
            json={"upload_id": uploaded.json()["upload_id"], "disease": "heart", "epochs": 3},
        )
        assert started.status_code == 202
        job_id = started.json()["job_id"]
        seen_phases = set()
        deadline = time.monotonic() + 120
        while True:
            state = client.get(f"/api/jobs/{job_id}").json()
            seen_phases.add(state["phase"])
            if state["status"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert state["status"] == "trained", state
        assert state["result"]["epsilon"] <= 1.0 and "global" in state["result"]["metrics"]
        assert seen_phases & {"reading", "training", "starting"}
        contributed = client.post(f"/api/jobs/{job_id}/contribute")
        assert contributed.status_code == 200 and contributed.json()["disease"] == "heart"
        assert "1 of the 3 contributions needed" in contributed.json()["message"]
        assert client.get("/api/status").json()["privacy_spent"]["heart"]["epsilon"] > 0


def test_requests_for_other_hosts_are_refused(tmp_path: Path) -> None:
    app = create_local_app(load_settings(node_home=tmp_path / "node"))
    with TestClient(app, base_url="http://attacker.example.org") as client:
        assert client.get("/api/status").status_code == 403
    with TestClient(app, base_url="http://localhost:8700") as client:
        response = client.post("/api/jobs", json={"upload_id": "0" * 32, "disease": "heart"})
        assert (
            response.status_code == 404
            and "upload the file again" in response.json()["error"]["message"]
        )


def test_serve_refuses_a_non_loopback_address(tmp_path: Path, database_url: str) -> None:
    from tests.utils.processes import medfed_env

    result = run_medfed(
        ["node", "serve", "--host", "0.0.0.0"], medfed_env(tmp_path / "h", database_url)
    )
    assert result.returncode == 2 and "loopback only" in result.stderr


def test_a_node_not_enrolled_says_so_instead_of_failing(tmp_path: Path) -> None:
    app = create_local_app(load_settings(node_home=tmp_path / "node"))
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        answer = client.get("/api/rounds")
        assert answer.status_code == 200
        assert (
            answer.json()["enrolled"] is False and "medfed node enroll" in answer.json()["message"]
        )
