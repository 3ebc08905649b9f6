from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from medfed.core.clock import utcnow
from medfed.server.db.tables import AuditEvent, EnrollmentToken, Node
from tests.factories import make_logged_in


def new_hospital_token(
    client: TestClient, db: Session, name: str = "Hungarian Institute"
) -> tuple[int, str]:
    admin = make_logged_in(client, db, "admin")
    body = client.post("/api/v1/hospitals", json={"name": name}, headers=admin.headers).json()
    return body["hospital"]["id"], body["enrollment"]["enrollment_token"]


def enroll(client: TestClient, token: str, name: str = "node-1"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/nodes/enroll",
        json={"token": token, "node_name": name, "software_version": "0.1.0"},
    )


def test_enrollment_exchanges_token_for_working_credential(client: TestClient, db: Session) -> None:
    hospital_id, token = new_hospital_token(client, db)
    response = enroll(client, token)
    assert response.status_code == 201
    credential = response.json()["credential"]
    assert credential.startswith("mfn_") and response.json()["hospital_id"] == hospital_id
    me = client.get("/api/v1/nodes/me", headers={"Authorization": f"Bearer {credential}"})
    assert me.status_code == 200 and me.json()["name"] == "node-1"
    assert db.scalars(select(Node)).one().credential_hash != credential


def test_used_token_is_refused_clearly(client: TestClient, db: Session) -> None:
    _, token = new_hospital_token(client, db)
    assert enroll(client, token).status_code == 201
    again = enroll(client, token, "node-2")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "enrollment_refused"
    assert "already used" in again.json()["error"]["message"]
    failures = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "node_enrolled", AuditEvent.outcome == "failure"
        )
    ).all()
    assert [f.details["reason"] for f in failures] == ["token already used"]


def test_expired_and_unknown_tokens_are_refused_clearly(client: TestClient, db: Session) -> None:
    _, token = new_hospital_token(client, db)
    db.execute(update(EnrollmentToken).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    expired = enroll(client, token)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    unknown = enroll(client, "mfe_made-up")
    assert unknown.status_code == 401 and "not known" in unknown.json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Node)) == 0


def test_two_nodes_racing_with_one_token_enroll_exactly_one(
    client: TestClient, db: Session
) -> None:
    _, token = new_hospital_token(client, db)
    results: list[int] = []

    def attempt(index: int) -> None:
        results.append(enroll(client, token, f"racer-{index}").status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201] + [401] * 5
    assert db.scalar(select(func.count()).select_from(Node)) == 1


def test_user_tokens_are_not_node_credentials(client: TestClient, db: Session) -> None:
    admin = make_logged_in(client, db, "admin")
    assert client.get("/api/v1/nodes/me", headers=admin.headers).status_code == 401
    assert (
        client.get("/api/v1/nodes/me", headers={"Authorization": "Bearer mfn_forged"}).status_code
        == 401
    )


def test_enrollment_signs_the_nodes_request_and_a_bad_request_keeps_the_token(
    client: TestClient, db: Session
) -> None:
    from medfed.core import pki

    _, token = new_hospital_token(client, db, "Certificate Hospital")
    body = {"token": token, "node_name": "node-c", "software_version": "0.1.0"}
    bad = client.post("/api/v1/nodes/enroll", json={**body, "certificate_request": "nonsense"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "certificate_request"
    key = pki.new_key()
    good = client.post(
        "/api/v1/nodes/enroll",
        json={**body, "certificate_request": pki.certificate_request(key, "node-c")},
    )
    assert good.status_code == 201, good.text  # the refused attempt did not use the token up
    issued = good.json()["certificate"]
    certificate = pki.load_certificate_pem(issued["certificate"])
    assert certificate.public_key() == key.public_key()
    authority = client.get("/api/v1/nodes/authority").json()
    assert issued["authority_certificate"] == authority["certificate"]
    assert token.endswith("." + authority["fingerprint"])
    identity = pki.verify_node_certificate(
        pki.load_certificate_pem(authority["certificate"]),
        certificate,
        certificate.not_valid_before_utc,
    )
    assert identity.node_id == good.json()["node_id"]


def test_a_node_reports_counts_and_models_and_the_network_view_shows_them(
    client: TestClient, db: Session
) -> None:
    hospital_id, token = new_hospital_token(client, db)
    node = {"Authorization": f"Bearer {enroll(client, token).json()['credential']}"}
    report = {
        "software_version": "0.9.1",
        "registry": {"patients": 120, "admissions": 180, "diagnoses": 950},
        "models": [
            {
                "disease": "heart",
                "kind": "local",
                "version": "v1.2+local-ab12cd34",
                "base_version": "v1.2",
                "kept_at": "2026-12-07T10:00:00+00:00",
            }
        ],
    }
    assert client.put("/api/v1/nodes/me/inventory", json=report, headers=node).status_code == 204
    scientist = make_logged_in(client, db, "data_scientist")
    (hospital,) = [
        h
        for h in client.get("/api/v1/network", headers=scientist.headers).json()
        if h["id"] == hospital_id
    ]
    (shown,) = hospital["nodes"]
    assert shown["software_version"] == "0.9.1" and shown["registered"]["diagnoses"] == 950
    assert shown["models_held"][0]["version"] == "v1.2+local-ab12cd34"
    assert shown["reported_at"] is not None
    for bad in (
        {**report, "registry": {"patients": -1, "admissions": 0, "diagnoses": 0}},
        {**report, "registry": {**report["registry"], "names": ["Ada"]}},  # counts only
        {**report, "models": [{**report["models"][0], "kind": "stolen"}]},
        {"registry": report["registry"]},
    ):
        refused = client.put("/api/v1/nodes/me/inventory", json=bad, headers=node)
        assert refused.status_code == 422, bad
    assert client.put("/api/v1/nodes/me/inventory", json=report).status_code == 401
