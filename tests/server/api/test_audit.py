from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_logged_in


def test_admin_lists_and_verifies_the_trail(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    client.post("/api/v1/hospitals", json={"name": "Long Beach"}, headers=admin.headers)
    events = client.get("/api/v1/audit", headers=admin.headers).json()
    actions = [event["action"] for event in events]
    assert actions[:3] == ["enrollment_token_created", "hospital_created", "login"]
    assert events[0]["seq"] > events[1]["seq"]
    only_logins = client.get("/api/v1/audit?action=login", headers=admin.headers).json()
    assert {event["action"] for event in only_logins} == {"login"}

    verdict = client.post("/api/v1/audit/verify", headers=admin.headers).json()
    assert verdict["ok"] is True and verdict["rows_checked"] == len(events)
    assert len(verdict["head_hash"]) == 64


def test_paging_by_sequence(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    first_page = client.get("/api/v1/audit?limit=1", headers=admin.headers).json()
    older = client.get(
        f"/api/v1/audit?before_seq={first_page[0]['seq']}", headers=admin.headers
    ).json()
    assert all(event["seq"] < first_page[0]["seq"] for event in older)
    assert client.get("/api/v1/audit?limit=0", headers=admin.headers).status_code == 422
