from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from medfed.core.config import Settings
from medfed.server.app import create_app


def test_healthz_and_readyz_on_a_healthy_server(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def unreachable_url(settings: Settings, tmp_path: Path) -> str:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path}/no/such/folder/medfed.db"
    return url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)


def test_readyz_reports_unreachable_database(settings: Settings, tmp_path: Path) -> None:
    broken = settings.model_copy(update={"database_url": unreachable_url(settings, tmp_path)})
    with TestClient(create_app(broken)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "unreachable"
        api = client.post("/api/v1/auth/token", json={"username": "someone", "password": "x"})
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "service_unavailable"


def test_readyz_reports_pending_migrations(settings: Settings, tmp_path: Path) -> None:
    empty = settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path}/empty.db", "auto_migrate": False}
    )
    with TestClient(create_app(empty)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "medfed server migrate" in ready.json()["reason"]


def test_openapi_docs_are_served_without_any_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "/static/docs/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"]


TOKEN = "metrics-token-for-the-scraper-0123456789"


def test_metrics_need_the_token_and_are_off_without_one(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    off = client.get("/metrics")
    assert off.status_code == 404 and "MEDFED_METRICS_TOKEN" in off.text
    from medfed.server.app import create_app

    with TestClient(
        create_app(settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}))
    ) as guarded:
        assert guarded.get("/metrics").status_code == 401
        wrong = {"Authorization": "Bearer " + TOKEN[::-1]}
        assert guarded.get("/metrics", headers=wrong).status_code == 401
        right = guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200 and "medfed_http_requests_total" in right.text


def test_metrics_count_requests_by_route_template(settings) -> None:  # type: ignore[no-untyped-def]
    from medfed.server.app import create_app

    client = TestClient(create_app(settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})))
    client.get("/healthz")
    client.get("/api/v1/hospitals/42")
    client.get("/nowhere/at/all")
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'medfed_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/v1/hospitals/{hospital_id}",status="401"' in text
    assert 'route="unmatched",status="404"' in text
    assert "medfed_http_request_duration_seconds_bucket" in text
