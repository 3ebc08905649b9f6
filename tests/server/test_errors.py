"""Bad input of every kind gets a clear 4xx in the one error format, never a stack trace."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.server.db.tables import Hospital
from tests.factories import make_logged_in


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/token",
        content=b'{"username": "a", "password": ',
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 400, "malformed_json")
    assert "not valid JSON" in error["message"]


def test_unknown_field_is_named(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/token", json={"username": "a", "password": "b", "admin": True}
    )
    error = assert_error(response, 422, "invalid_input")
    assert error["field"] == "admin" and "not an accepted field" in error["message"]


def test_missing_and_wrongly_typed_fields_are_named(client: TestClient, db: Session) -> None:
    error = assert_error(
        client.post("/api/v1/auth/token", json={"username": "a"}), 422, "invalid_input"
    )
    assert error["field"] == "password" and "required" in error["message"]
    admin = make_logged_in(client, db, "admin")
    wrong_type = client.post(
        "/api/v1/hospitals", json={"name": ["a", "list"]}, headers=admin.headers
    )
    assert assert_error(wrong_type, 422, "invalid_input")["field"] == "name"
    bad_path = client.get("/api/v1/hospitals/not-a-number", headers=admin.headers)
    assert assert_error(bad_path, 422, "invalid_input")["field"] == "hospital_id"


def test_oversized_body_is_413_and_nothing_is_written(
    client: TestClient, db: Session, settings
) -> None:  # type: ignore[no-untyped-def]
    admin = make_logged_in(client, db, "admin")
    huge = b'{"name": "' + b"x" * (settings.max_body_bytes + 1) + b'"}'
    response = client.post(
        "/api/v1/hospitals",
        content=huge,
        headers={**admin.headers, "content-type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")
    assert db.scalar(select(func.count()).select_from(Hospital)) == 0


def test_streamed_oversized_body_without_length_is_413(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    response = client.post(
        "/api/v1/auth/token", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_api_path_and_wrong_method(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nope"), 404, "not_found")
    assert_error(client.delete("/api/v1/auth/token"), 405, "method_not_allowed")


def test_pages_get_an_html_error_page(client: TestClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text and "/no-such-page" in response.text


def test_options_and_405_name_every_method_the_path_serves(client: TestClient) -> None:
    options = client.options("/api/v1/rounds")
    assert options.status_code == 204
    assert {"GET", "POST", "OPTIONS"} <= set(options.headers["allow"].split(", "))
    wrong = client.delete("/api/v1/rounds")
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    assert "POST" in wrong.headers["allow"] and "DELETE" not in wrong.headers["allow"]
