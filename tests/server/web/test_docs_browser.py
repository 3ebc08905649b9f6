"""The API explorer at /docs in a real browser: its Authorize button signs in with the OAuth2
password flow, and the token it gets is sent with the calls it tries."""

from __future__ import annotations

from playwright.sync_api import Browser, Request, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_user
from tests.utils.browser import Traffic, guarded_page
from tests.utils.processes import ServerProcess


def test_authorize_signs_in_and_try_it_out_sends_the_token(
    browser: Browser,
    live_server: tuple[ServerProcess, dict[str, str]],
    trained_db: Session,
) -> None:
    server, _ = live_server
    make_user(trained_db, "doctor", username="dr.docs")
    trained_db.rollback()
    sent: list[Request] = []
    with guarded_page(browser, Traffic()) as page:
        page.on("request", lambda request: sent.append(request))
        page.goto(server.url + "/docs")
        page.get_by_role("button", name="Authorize").first.click()
        dialog = page.locator(".modal-ux")
        expect(dialog).to_contain_text("OAuth2")
        dialog.locator("#oauth_username").fill("dr.docs")
        dialog.locator("#oauth_password").fill(DEFAULT_PASSWORD)
        dialog.locator("button.authorize").first.click()
        expect(dialog).to_contain_text("Authorized")
        dialog.locator("button.btn-done").first.click()

        operation = page.locator("#operations-models-list_models_api_v1_models_get")
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        expect(status).to_have_text("200")

    token_calls = [r for r in sent if r.url.endswith("/api/v1/auth/token")]
    assert token_calls and token_calls[0].method == "POST"
    assert "application/x-www-form-urlencoded" in (token_calls[0].headers.get("content-type") or "")
    models_calls = [r for r in sent if r.url.endswith("/api/v1/models")]
    assert models_calls, [r.url for r in sent]
    assert (models_calls[-1].headers.get("authorization") or "").startswith("Bearer ")
