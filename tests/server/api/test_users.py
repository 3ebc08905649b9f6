from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.server.db.tables import User
from tests.factories import make_hospital, make_logged_in


def test_admin_creates_users_of_each_role(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    hospital = make_hospital(db)
    doctor = client.post(
        "/api/v1/users",
        json={"username": "Dr.Grey", "password": "seattle-grace-42", "role": "doctor"},
        headers=admin.headers,
    )
    assert doctor.status_code == 201 and doctor.json()["username"] == "dr.grey"
    staff = client.post(
        "/api/v1/users",
        json={
            "username": "nurse1",
            "password": "seattle-grace-42",
            "role": "hospital",
            "hospital_id": hospital.id,
        },
        headers=admin.headers,
    )
    assert staff.status_code == 201 and staff.json()["hospital_id"] == hospital.id


def test_duplicate_username_is_409_and_nothing_is_written(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    body = {"username": "twin", "password": "seattle-grace-42", "role": "doctor"}
    assert client.post("/api/v1/users", json=body, headers=admin.headers).status_code == 201
    again = client.post("/api/v1/users", json={**body, "username": "TWIN"}, headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict",
        "message": "The username 'twin' is taken.",
        "field": "username",
    }
    assert db.scalar(select(func.count()).select_from(User).where(User.username == "twin")) == 1


def test_role_rules_name_the_field(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    staff_without_hospital = client.post(
        "/api/v1/users",
        json={"username": "nurse2", "password": "seattle-grace-42", "role": "hospital"},
        headers=admin.headers,
    )
    assert staff_without_hospital.status_code == 422
    assert staff_without_hospital.json()["error"]["field"] == "hospital_id"
    weak = client.post(
        "/api/v1/users",
        json={"username": "nurse3", "password": "short", "role": "doctor"},
        headers=admin.headers,
    )
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"
    unknown_role = client.post(
        "/api/v1/users",
        json={"username": "nurse4", "password": "seattle-grace-42", "role": "superuser"},
        headers=admin.headers,
    )
    assert unknown_role.status_code == 422 and unknown_role.json()["error"]["field"] == "role"
    sql_name = client.post(
        "/api/v1/users",
        json={
            "username": "x'; DROP TABLE users;--",
            "password": "seattle-grace-42",
            "role": "doctor",
        },
        headers=admin.headers,
    )
    assert sql_name.status_code == 422 and sql_name.json()["error"]["field"] == "username"
    assert client.get("/api/v1/users", headers=admin.headers).status_code == 200
