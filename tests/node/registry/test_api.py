"""The registry through the node's local API (loopback only, like the rest of the node page)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from medfed.core.config import load_settings
from medfed.node.local_api import create_local_app


def _client(tmp_path: Path) -> TestClient:
    app = create_local_app(load_settings(node_home=tmp_path / "node"))
    return TestClient(app, base_url="http://127.0.0.1:8700")


def test_register_admit_diagnose_import_and_search(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        made = client.post("/api/registry/patients", json={"name": "Ada", "local_id": "MRN-1"})
        assert made.status_code == 201, made.text
        secure_id = made.json()["secure_id"]
        admitted = client.post(
            f"/api/registry/patients/{secure_id}/admissions",
            json={"hadm_id": "1001", "admitted_on": "2026-03-14"},
        )
        assert admitted.status_code == 201, admitted.text
        added = client.post(
            "/api/registry/admissions/1001/diagnoses",
            json={"icd_code": "I21.4", "icd_version": 10, "seq_num": 1},
        )
        assert added.status_code == 201 and added.json()["description"].startswith("Non-ST")
        imported = client.post(
            "/api/registry/imports",
            files={"file": ("d.csv", b"hadm_id,icd_code,icd_version,seq_num\n1001,4280,9,2\n")},
        )
        assert imported.json() == {"diagnoses": 1, "admissions": 1}
        shown = client.get(f"/api/registry/patients/{secure_id}").json()
        codes = [d["code"] for d in shown["admission_list"][0]["diagnoses"]]
        assert codes == ["I21.4", "428.0"]
        found = client.get("/api/registry/patients", params={"search": secure_id[:6]}).json()
        assert [p["secure_id"] for p in found["patients"]] == [secure_id]
        assert client.get("/api/registry").json()["counts"] == {
            "patients": 1,
            "admissions": 1,
            "diagnoses": 2,
        }
        assert client.get("/api/registry/codes/4280", params={"version": 9}).json()["icd10"] == (
            "I50.9"
        )


def test_bad_input_is_refused_with_a_reason_never_a_5xx(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        secure_id = client.post(
            "/api/registry/patients", json={"name": "Ada", "local_id": "MRN-1"}
        ).json()["secure_id"]
        client.post(f"/api/registry/patients/{secure_id}/admissions", json={"hadm_id": "1001"})
        cases = [
            ("/api/registry/admissions/1001/diagnoses", {"icd_code": "I99.999", "seq_num": 1}),
            ("/api/registry/admissions/1001/diagnoses", {"icd_code": "4280", "seq_num": 1}),
            ("/api/registry/admissions/9/diagnoses", {"icd_code": "I10", "seq_num": 1}),
            ("/api/registry/patients", {"name": "Ada", "local_id": "MRN-1"}),
            ("/api/registry/patients/P-0000000000000000/admissions", {"hadm_id": "2"}),
            ("/api/registry/patients/not-an-id/admissions", {"hadm_id": "2"}),
            ("/api/registry/patients", {"name": "", "local_id": "x"}),
        ]
        for path, body in cases:
            answer = client.post(path, json=body)
            assert 400 <= answer.status_code < 500, (path, body, answer.text)
        refused = client.post(
            "/api/registry/imports", files={"file": ("d.csv", b"\xff\xfe\x00bad")}
        )
        assert refused.status_code == 422 and "not UTF-8" in refused.text
        assert client.get("/api/registry/codes/I99.999").status_code == 422
        assert client.get("/api/registry").json()["counts"]["diagnoses"] == 0


def test_the_registry_answers_only_this_machine(tmp_path: Path) -> None:
    app = create_local_app(load_settings(node_home=tmp_path / "node"))
    with TestClient(app, base_url="http://hospital.example:8700") as client:
        assert client.get("/api/registry/patients").status_code == 403
