from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medfed.core.clock import utcnow
from medfed.server.db.tables import AuditEvent, AuthToken
from tests.factories import DEFAULT_PASSWORD, api_login, make_user


def login(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_token_gives_access_to_me(client: TestClient, db: Session) -> None:
    user = make_user(db, "doctor", username="dr.house")
    session = api_login(client, user)
    response = client.get("/api/v1/auth/me", headers=session.headers)
    assert response.status_code == 200
    assert response.json()["username"] == "dr.house"
    assert "password_hash" not in response.json()


def test_wrong_password_is_401_and_audited(client: TestClient, db: Session) -> None:
    make_user(db, "doctor", username="dr.who")
    response = login(client, "dr.who", "not the password")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_credentials", "message": "Wrong username or password."}
    }
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
    assert (event.actor, event.outcome, event.details["reason"]) == (
        "user:dr.who",
        "failure",
        "wrong password",
    )


def test_unknown_user_gets_the_same_answer_and_the_name_is_not_recorded(
    client: TestClient, db: Session
) -> None:
    response = login(client, "my-password-typed-here", "whatever")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Wrong username or password."
    event = db.scalars(select(AuditEvent)).one()
    assert event.actor == "anonymous" and "my-password-typed-here" not in str(event.details)


def test_guessing_from_one_address_cannot_lock_the_owner_out_and_tells_nothing(
    client: TestClient,
    db: Session,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    make_user(db, "admin", username="the.admin")
    db.rollback()
    for _ in range(settings.login_max_failures):
        assert login(client, "the.admin", "wrong guess").status_code == 401
        assert login(client, "nobody.here", "wrong guess").status_code == 401
    # From the guessing address the right password no longer works, and the answer is exactly
    # the one an unknown name gets: nothing says the account exists or is locked.
    locked, unknown = (
        login(client, "the.admin", DEFAULT_PASSWORD),
        login(client, "nobody.here", "x"),
    )
    assert locked.status_code == unknown.status_code == 401
    assert locked.json() == unknown.json()
    assert "retry-after" not in locked.headers
    # The owner, elsewhere, signs in as usual.
    with TestClient(client.app, client=("10.1.2.3", 50000)) as elsewhere:
        assert login(elsewhere, "the.admin", DEFAULT_PASSWORD).status_code == 200
    logins = select(AuditEvent).where(AuditEvent.action == "login").order_by(AuditEvent.seq)
    reasons = [e.details["reason"] for e in db.scalars(logins) if e.outcome == "failure"]
    assert reasons[-2:] == ["too many failures", "too many failures"]


def test_rate_limit_per_address(db: Session, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from medfed.server.app import create_app

    limited = create_app(settings.model_copy(update={"login_rate_per_minute": 3}))
    with TestClient(limited) as client:
        codes = [login(client, f"nobody{i}", "x").status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_forged_expired_and_revoked_tokens_are_refused(client: TestClient, db: Session) -> None:
    session = api_login(client, make_user(db, "doctor"))
    forged = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer mfa_forged"})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "token_invalid"
    assert forged.headers["www-authenticate"] == "Bearer"
    missing = client.get("/api/v1/auth/me")
    assert missing.status_code == 401 and "bearer token" in missing.json()["error"]["message"]

    db.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    expired = client.get("/api/v1/auth/me", headers=session.headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"

    fresh = api_login(client, session.user)
    assert client.post("/api/v1/auth/revoke", headers=fresh.headers).status_code == 204
    revoked = client.get("/api/v1/auth/me", headers=fresh.headers)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "token_invalid"


def test_disabled_account_cannot_log_in_or_use_old_tokens(client: TestClient, db: Session) -> None:
    admin = api_login(client, make_user(db, "admin"))
    doctor = make_user(db, "doctor")
    old = api_login(client, doctor)
    response = client.patch(
        f"/api/v1/users/{doctor.id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert login(client, doctor.username, DEFAULT_PASSWORD).status_code == 401
    assert client.get("/api/v1/auth/me", headers=old.headers).status_code == 401


def test_session_cookie_token_is_not_an_api_token(client: TestClient, db: Session) -> None:
    user = make_user(db, "doctor")
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login", data={"username": user.username, "password": DEFAULT_PASSWORD, "csrf_token": csrf}
    )
    cookie = client.cookies.get("medfed_session")
    assert cookie and cookie.startswith("mfs_")
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {cookie}"})
    assert response.status_code == 401


def test_the_oauth2_password_form_that_docs_sends_also_logs_in(
    client: TestClient, db: Session
) -> None:
    make_user(db, "doctor", username="dr.form")
    db.rollback()
    form = {"grant_type": "password", "username": "dr.form", "password": DEFAULT_PASSWORD}
    issued = client.post("/api/v1/auth/token", data=form)
    assert issued.status_code == 200 and issued.json()["token_type"] == "bearer"
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {issued.json()['access_token']}"}
    )
    assert me.json()["username"] == "dr.form"
    empty = client.post("/api/v1/auth/token", data={"username": "dr.form"})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "password"
    garbled = client.post(
        "/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert garbled.status_code in (400, 422)


def test_openapi_declares_the_schemes_and_every_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["NodeCredential"]["scheme"] == "bearer"
    predict = spec["paths"]["/api/v1/models/{disease}/predict"]["post"]
    assert predict["security"] == [{"OAuth2": []}]
    for status in ("401", "403", "404", "413", "422", "429"):
        assert predict["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_read_only_routes_check_tokens_the_same_way(client: TestClient, db: Session) -> None:
    # Read-only routes (predict, campaigns) resolve the caller as plain rows on the event loop's
    # own read connection (db/read_line.py): every refusal, and a revocation at once.
    admin = api_login(client, make_user(db, "admin"))
    campaigns = "/api/v1/campaigns"
    assert client.get(campaigns, headers=admin.headers).status_code == 200
    forged = client.get(campaigns, headers={"Authorization": "Bearer mfa_forged"})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "token_invalid"
    session_token = client.get(campaigns, headers={"Authorization": "Bearer mfs_not_api"})
    assert session_token.status_code == 401

    fresh = api_login(client, admin.user)
    assert client.get(campaigns, headers=fresh.headers).status_code == 200
    assert client.post("/api/v1/auth/revoke", headers=fresh.headers).status_code == 204
    revoked = client.get(campaigns, headers=fresh.headers)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "token_invalid"

    db.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    expired = client.get(campaigns, headers=admin.headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"


def test_read_only_routes_refuse_a_disabled_account_at_once(
    client: TestClient, db: Session
) -> None:
    admin = api_login(client, make_user(db, "admin"))
    other = make_user(db, "admin")
    old = api_login(client, other)
    assert client.get("/api/v1/campaigns", headers=old.headers).status_code == 200
    response = client.patch(
        f"/api/v1/users/{other.id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200
    refused = client.get("/api/v1/campaigns", headers=old.headers)
    assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]
