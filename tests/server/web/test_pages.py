from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.server.db.tables import AuthToken
from tests.factories import DEFAULT_PASSWORD, make_user


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def sign_in(
    client: TestClient, username: str, password: str = DEFAULT_PASSWORD, next_path: str = "/"
):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )


def signed_in(client: TestClient, db: Session, role: str, username: str) -> None:
    """A new user of `role`, signed in to the web app through the login form."""
    make_user(db, role, username=username)
    db.rollback()
    assert sign_in(client, username).status_code == 303


def test_pages_redirect_to_login_and_back(client: TestClient, db: Session) -> None:
    user = make_user(db, "doctor", username="dr.page")
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/"
    response = sign_in(client, "dr.page")
    assert response.status_code == 303 and response.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and user.display_name in home.text and "doctor" in home.text


def test_session_cookie_is_httponly_and_samesite(client: TestClient, db: Session) -> None:
    make_user(db, "doctor", username="dr.cookie")
    response = sign_in(client, "dr.cookie")
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("medfed_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    stored = db.scalars(select(AuthToken)).one()
    assert stored.kind == "session" and stored.token_hash not in cookie


def test_login_without_csrf_token_is_refused(client: TestClient, db: Session) -> None:
    make_user(db, "doctor", username="dr.csrf")
    client.get("/login")
    response = client.post("/login", data={"username": "dr.csrf", "password": DEFAULT_PASSWORD})
    assert response.status_code == 403 and "CSRF" in response.text
    assert client.cookies.get("medfed_session") is None


def test_logout_needs_the_session_bound_csrf_token(client: TestClient, db: Session) -> None:
    make_user(db, "doctor", username="dr.out")
    login_token = csrf_from(client.get("/login").text)
    sign_in(client, "dr.out")
    # The pre-login token is bound to the nonce, not to the new session: it no longer works.
    stale = client.post("/logout", data={"csrf_token": login_token}, follow_redirects=False)
    assert stale.status_code == 403
    home = client.get("/")
    response = client.post(
        "/logout", data={"csrf_token": csrf_from(home.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert db.scalars(select(AuthToken)).one().revoked_at is not None
    assert client.get("/", follow_redirects=False).status_code == 303


def test_wrong_password_shows_the_form_again_with_a_message(
    client: TestClient, db: Session
) -> None:
    make_user(db, "doctor", username="dr.typo")
    response = sign_in(client, "dr.typo", "wrong password!")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text and 'value="dr.typo"' in response.text


def test_next_parameter_cannot_redirect_off_site(client: TestClient, db: Session) -> None:
    make_user(db, "doctor", username="dr.next")
    response = sign_in(client, "dr.next", next_path="//evil.example.org/phish")
    assert response.headers["location"] == "/"


def test_pages_reference_no_external_assets(client: TestClient) -> None:
    html = client.get("/login").text
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert client.get("/static/medfed.css").status_code == 200


def test_every_page_carries_the_security_headers_and_nothing_inline(
    trained_client: TestClient, trained_db: Session
) -> None:
    signed_in(trained_client, trained_db, "doctor", "dr.headers")
    for path in ("/login", "/models", "/models/heart", "/models/heart/predict", "/docs"):
        page = trained_client.get(path)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        # Nothing the policy would block: no inline script or style, no style attribute.
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path
        assert "<style" not in page.text and "style=" not in page.text, path
    assert "<svg" in trained_client.get("/models/heart").text  # a chart was checked above
    styles = trained_client.get("/charts.css")
    assert styles.status_code == 200 and ".pygal-chart" in styles.text
    # CSS, not XML text: the rule that makes a chart's background transparent must match.
    assert ".pygal-chart .graph > .background{fill:transparent}" in styles.text
    assert "&gt;" not in styles.text
    assert styles.headers["content-type"].startswith("text/css")
