"""Role and ownership checks, written once as dependencies, seen from every side."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.server.db.tables import AuditEvent
from tests.factories import api_login, make_hospital, make_logged_in, make_user

ADMIN_ONLY = [
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/hospitals"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/audit/verify"),
    ("POST", "/api/v1/hospitals/1/enrollment-tokens"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_doctor_token_on_admin_endpoint_is_403_and_audited(
    client: TestClient, db: Session, method: str, path: str
) -> None:
    make_hospital(db)
    doctor = make_logged_in(client, db, "doctor")
    response = client.request(method, path, headers=doctor.headers, json={"name": "Some Hospital"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    denial = db.scalars(select(AuditEvent).where(AuditEvent.action == "access_denied")).one()
    assert denial.actor == f"user:{doctor.user.username}" and denial.object == f"{method} {path}"


def test_hospital_user_cannot_read_another_hospitals_records(
    client: TestClient, db: Session
) -> None:
    mine, theirs = make_hospital(db, "Mine General"), make_hospital(db, "Their General")
    staff = api_login(client, make_user(db, "hospital", hospital=mine))
    assert client.get(f"/api/v1/hospitals/{mine.id}", headers=staff.headers).status_code == 200
    assert (
        client.get(f"/api/v1/hospitals/{mine.id}/nodes", headers=staff.headers).status_code == 200
    )
    for path in (f"/api/v1/hospitals/{theirs.id}", f"/api/v1/hospitals/{theirs.id}/nodes"):
        response = client.get(path, headers=staff.headers)
        assert response.status_code == 403
        assert "own hospital" in response.json()["error"]["message"]
    listed = client.get("/api/v1/hospitals", headers=staff.headers).json()
    assert [h["name"] for h in listed] == ["Mine General"]


def test_admin_sees_every_hospital(client: TestClient, db: Session) -> None:
    make_hospital(db, "Alpha Hospital")
    make_hospital(db, "Beta Hospital")
    admin = make_logged_in(client, db, "admin")
    names = [h["name"] for h in client.get("/api/v1/hospitals", headers=admin.headers).json()]
    assert names == ["Alpha Hospital", "Beta Hospital"]


def test_users_read_only_their_own_account(client: TestClient, db: Session) -> None:
    first = make_logged_in(client, db, "doctor")
    second = make_user(db, "doctor")
    assert client.get(f"/api/v1/users/{first.user.id}", headers=first.headers).status_code == 200
    assert client.get(f"/api/v1/users/{second.id}", headers=first.headers).status_code == 403


def test_doctors_cannot_list_hospitals(client: TestClient, db: Session) -> None:
    doctor = make_logged_in(client, db, "doctor")
    assert client.get("/api/v1/hospitals", headers=doctor.headers).status_code == 403
