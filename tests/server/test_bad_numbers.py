"""Numbers no database stores and text no CSV parser reads are bad input (4xx naming what is
wrong), never a server error: ids and counts beyond 32 bits on every kind of route, an integer
too large for a float in a prediction, a bare carriage return in a batch CSV."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_logged_in
from tests.server.web.test_pages import signed_in

HUGE = "9223372036854775808"  # 2**63: past every integer column
API_PATHS = [
    ("GET", f"/api/v1/hospitals/{HUGE}"),
    ("GET", f"/api/v1/hospitals/{HUGE}/rounds"),
    ("GET", f"/api/v1/rounds/{HUGE}"),
    ("POST", f"/api/v1/rounds/{HUGE}/cancel"),
    ("GET", f"/api/v1/campaigns/{HUGE}"),
    ("GET", f"/api/v1/users/{HUGE}"),
    ("POST", f"/api/v1/predictions/{HUGE}/outcome"),
    ("GET", f"/api/v1/audit?before_seq={HUGE}"),
    ("GET", "/api/v1/rounds/2147483648"),  # just past 32 bits (PostgreSQL INTEGER)
]


@pytest.mark.parametrize(("method", "path"), API_PATHS)
def test_ids_past_the_database_range_are_refused_by_the_schema(
    trained_client: TestClient, trained_db: Session, method: str, path: str
) -> None:
    admin = make_logged_in(trained_client, trained_db, "admin")
    body = {"reason": "a reason long enough", "outcome": 1}
    response = trained_client.request(method, path, headers=admin.headers, json=body)
    assert response.status_code == 422, response.text
    assert "less than or equal to 2147483647" in response.json()["error"]["message"]


def test_counts_and_ids_in_bodies_are_bounded_too(
    trained_client: TestClient, trained_db: Session
) -> None:
    admin = make_logged_in(trained_client, trained_db, "admin")
    user = {"username": "someone", "password": "a long password 1", "role": "hospital"}
    response = trained_client.post(
        "/api/v1/users", json={**user, "hospital_id": int(HUGE)}, headers=admin.headers
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "hospital_id"
    outcome = trained_client.post(
        "/api/v1/predictions/1/outcome", json={"outcome": True}, headers=admin.headers
    )
    assert outcome.status_code == 422 and outcome.json()["error"]["field"] == "outcome"


def test_web_pages_with_huge_ids_answer_a_page_not_a_fault(
    trained_client: TestClient, trained_db: Session
) -> None:
    signed_in(trained_client, trained_db, "admin", "admin.pages")
    for path in (f"/admin/rounds/{HUGE}", f"/admin/campaigns/{HUGE}", f"/predictions/{HUGE}"):
        response = trained_client.get(path)
        assert response.status_code in (403, 404, 422), (path, response.status_code)
        assert "text/html" in response.headers["content-type"]


def test_an_integer_too_large_for_a_float_is_a_clear_422(
    trained_client: TestClient, trained_db: Session
) -> None:
    patient = {"pregnancies": 1, "glucose": 10**400, "blood_pressure": 70, "bmi": 30, "age": 40}
    body = json.dumps({"patient": patient}).encode()
    response = _as_doctor(trained_client, trained_db, "predict", body, "application/json")
    assert response.status_code == 422, response.text
    assert "too large" in response.json()["error"]["message"]


def test_a_bare_carriage_return_in_a_batch_row_names_the_line(
    trained_client: TestClient, trained_db: Session
) -> None:
    text = "glucose,bmi,age\n120,30\r5,40\n"
    response = _as_doctor(trained_client, trained_db, "predict-batch", text.encode(), "text/csv")
    assert response.status_code == 422, response.text
    assert "Line 2 of the CSV cannot be read" in response.json()["error"]["message"]


def _as_doctor(client: TestClient, db: Session, action: str, body: bytes, kind: str) -> Any:
    doctor = make_logged_in(client, db, "doctor")
    return client.post(
        f"/api/v1/models/diabetes/{action}",
        content=body,
        headers={**doctor.headers, "content-type": kind},
    )
