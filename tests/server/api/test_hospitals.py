from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from medfed.server.db.tables import Hospital
from tests.factories import make_logged_in


def test_admin_registers_hospital_and_gets_one_time_token(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    response = client.post(
        "/api/v1/hospitals", json={"name": "Cleveland Clinic"}, headers=admin.headers
    )
    assert response.status_code == 201
    body = response.json()
    assert body["hospital"]["name"] == "Cleveland Clinic"
    assert body["enrollment"]["enrollment_token"].startswith("mfe_")
    assert "medfed node enroll" in body["enrollment"]["instructions"]


def test_duplicate_hospital_name_is_409(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    assert (
        client.post("/api/v1/hospitals", json={"name": "Zurich"}, headers=admin.headers).status_code
        == 201
    )
    again = client.post("/api/v1/hospitals", json={"name": "zurich"}, headers=admin.headers)
    assert again.status_code == 409 and again.json()["error"]["field"] == "name"


def test_sql_looking_name_is_422_and_the_schema_survives(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    response = client.post(
        "/api/v1/hospitals", json={"name": "x'); DROP TABLE hospitals; --"}, headers=admin.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "name"
    assert "';'" in response.json()["error"]["message"]
    assert "hospitals" in inspect(db.get_bind()).get_table_names()
    assert db.scalar(select(func.count()).select_from(Hospital)) == 0


def test_new_enrollment_token_for_existing_hospital(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    created = client.post("/api/v1/hospitals", json={"name": "Basel"}, headers=admin.headers).json()
    hospital_id = created["hospital"]["id"]
    second = client.post(
        f"/api/v1/hospitals/{hospital_id}/enrollment-tokens", headers=admin.headers
    )
    assert second.status_code == 201
    assert second.json()["enrollment_token"] != created["enrollment"]["enrollment_token"]
    missing = client.post("/api/v1/hospitals/9999/enrollment-tokens", headers=admin.headers)
    assert missing.status_code == 404
