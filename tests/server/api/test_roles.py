"""Role and ownership checks, written once as dependencies, seen from every side."""

from __future__ import annotations

import re

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


ROLES = ("admin", "data_scientist", "hospital", "doctor")
TRAINING = {"admin", "data_scientist"}
CLINICIANS = {"admin", "doctor"}
ADMIN = {"admin"}
STAFF = {"admin", "hospital"}  # hospital staff on their own hospital
EVERYONE = set(ROLES)
# Every operation of the API for signed-in users, and who may call it. A new route fails
# `test_every_api_operation_is_in_the_role_table` until it is placed here.
POLICY: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/models"): EVERYONE,
    ("GET", "/api/v1/models/{disease}"): EVERYONE,
    ("POST", "/api/v1/models/{disease}/active"): TRAINING,
    ("POST", "/api/v1/models/{disease}/predict"): CLINICIANS,
    ("POST", "/api/v1/models/{disease}/predict-batch"): CLINICIANS,
    ("GET", "/api/v1/models/{disease}/versions/{version}/onnx"): CLINICIANS | TRAINING,
    ("GET", "/api/v1/predictions"): CLINICIANS,
    ("POST", "/api/v1/predictions/{prediction_id}/outcome"): CLINICIANS,
    ("POST", "/api/v1/auth/token"): EVERYONE,
    ("POST", "/api/v1/auth/revoke"): EVERYONE,
    ("GET", "/api/v1/auth/me"): EVERYONE,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/{user_id}"): EVERYONE,  # their own account; see above
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("GET", "/api/v1/hospitals"): STAFF,
    ("POST", "/api/v1/hospitals"): ADMIN,
    ("GET", "/api/v1/hospitals/{hospital_id}"): STAFF,
    ("GET", "/api/v1/hospitals/{hospital_id}/nodes"): STAFF,
    ("POST", "/api/v1/hospitals/{hospital_id}/enrollment-tokens"): ADMIN,
    ("GET", "/api/v1/hospitals/{hospital_id}/privacy"): TRAINING | {"hospital"},
    ("POST", "/api/v1/hospitals/{hospital_id}/deactivate"): ADMIN,
    ("POST", "/api/v1/hospitals/{hospital_id}/reactivate"): ADMIN,
    ("POST", "/api/v1/hospitals/{hospital_id}/nodes/{node_id}/revoke"): ADMIN,
    ("POST", "/api/v1/hospitals/{hospital_id}/nodes/{node_id}/credential"): ADMIN,
    ("POST", "/api/v1/rounds"): TRAINING,
    ("GET", "/api/v1/rounds"): TRAINING,
    ("GET", "/api/v1/rounds/{round_id}"): TRAINING,
    ("POST", "/api/v1/rounds/{round_id}/cancel"): TRAINING,
    ("GET", "/api/v1/hospitals/{hospital_id}/rounds"): STAFF,
    ("GET", "/api/v1/network"): TRAINING,
    ("PUT", "/api/v1/hospitals/{hospital_id}/leaderboard"): STAFF,
    ("GET", "/api/v1/leaderboard"): EVERYONE,
    ("POST", "/api/v1/campaigns"): TRAINING,
    ("GET", "/api/v1/campaigns"): TRAINING,
    ("GET", "/api/v1/campaigns/{campaign_id}"): TRAINING,
    ("POST", "/api/v1/campaigns/{campaign_id}/pause"): TRAINING,
    ("POST", "/api/v1/campaigns/{campaign_id}/resume"): TRAINING,
    ("POST", "/api/v1/campaigns/{campaign_id}/cancel"): TRAINING,
    ("POST", "/api/v1/analytics"): TRAINING,
    ("GET", "/api/v1/analytics"): TRAINING,
    ("GET", "/api/v1/analytics/{query_id}"): TRAINING,
    ("GET", "/api/v1/analytics/{query_id}/export"): TRAINING,
    ("POST", "/api/v1/analytics/{query_id}/cancel"): TRAINING,
    ("POST", "/api/v1/analytics/standardisation"): TRAINING,
    ("GET", "/api/v1/buffers"): TRAINING,
    ("PUT", "/api/v1/buffers/{disease}"): ADMIN,  # plain mode: an administrator's decision
    ("DELETE", "/api/v1/buffers/{disease}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("POST", "/api/v1/audit/verify"): ADMIN,
    ("PUT", "/api/v1/models/{disease}/challenger"): TRAINING,
    ("DELETE", "/api/v1/models/{disease}/challenger"): TRAINING,
    ("GET", "/api/v1/models/{disease}/arms"): EVERYONE,
    ("GET", "/api/v1/models/{disease}/versions/{version}/artifact"): TRAINING,
}
# Not requested here: it revokes the caller's own token, whoever the caller is.
NOT_REQUESTED = {("POST", "/api/v1/auth/revoke"), ("POST", "/api/v1/auth/token")}


def _user_operations(client: TestClient) -> set[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1") and not path.startswith("/api/v1/nodes")
        for method in operations
    }


def test_every_api_operation_is_in_the_role_table(client: TestClient) -> None:
    assert _user_operations(client) == set(POLICY)


def test_each_role_is_refused_exactly_where_the_table_says(client: TestClient, db: Session) -> None:
    hospital = make_hospital(db, "Own General")
    callers = {role: make_logged_in(client, db, role) for role in ROLES if role != "hospital"}
    callers["hospital"] = api_login(client, make_user(db, "hospital", hospital=hospital))
    own_ids = {role: caller.user.id for role, caller in callers.items()}
    db.rollback()
    wrong = []
    for method, path in sorted(POLICY):
        if (method, path) in NOT_REQUESTED:
            continue
        for role, caller in callers.items():
            concrete = (
                path.replace("{hospital_id}", str(hospital.id))
                .replace("{disease}", "heart")
                .replace("{user_id}", str(own_ids[role]))
                .replace("{version}", "v1.0")
            )
            concrete = re.sub(r"\{\w+\}", "1", concrete)
            status = client.request(method, concrete, headers=caller.headers, json={}).status_code
            assert status != 401, (method, concrete, role)
            if (status == 403) != (role not in POLICY[(method, path)]):
                wrong.append(f"{method} {path} as {role}: {status}")
    assert not wrong, "\n".join(wrong)


def test_a_data_scientist_trains_and_promotes_but_plain_mode_is_an_administrators_call(
    client: TestClient, db: Session
) -> None:
    scientist = make_logged_in(client, db, "data_scientist")
    base = {"disease": "heart", "min_hospitals": 3}
    plain = client.post("/api/v1/rounds", json={**base, "secure": False}, headers=scientist.headers)
    assert plain.status_code == 403 and "administrator" in plain.json()["error"]["message"]
    body = {
        "disease": "heart",
        "rounds": 2,
        "epsilon_budget": 4,
        "round": {"min_hospitals": 3, "secure": False},
    }
    campaign = client.post("/api/v1/campaigns", json=body, headers=scientist.headers)
    assert campaign.status_code == 403, campaign.text
    users = client.get("/api/v1/users", headers=scientist.headers)
    assert users.status_code == 403 and "admin" in users.json()["error"]["message"]
