"""Forwarded headers are believed only from the proxies an operator names: a real server
process, so uvicorn's own proxy handling is what is tested."""

from __future__ import annotations

from pathlib import Path

import httpx

from medfed.core.config import Settings
from medfed.server.db.engine import make_engine, make_session_factory
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.utils.processes import medfed_env, running_server

SPOOFED = "203.0.113.9"


def _failed_login_client(url: str, admin_token: str) -> str:
    httpx.post(
        url + "/api/v1/auth/token",
        json={"username": "nobody", "password": "wrong"},
        headers={"X-Forwarded-For": SPOOFED},
    )
    events = httpx.get(
        url + "/api/v1/audit?action=login&limit=1",
        headers={"Authorization": f"Bearer {admin_token}"},
    ).json()
    return str(events[0]["details"]["client"])


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    trained_settings: Settings, tmp_path: Path
) -> None:
    engine = make_engine(trained_settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        make_user(session, "admin", username="proxy.admin")
        session.commit()
    engine.dispose()
    base = medfed_env(tmp_path / "home", trained_settings.resolved_database_url)
    seen = []
    for extra in ({}, {"MEDFED_TRUSTED_PROXIES": "127.0.0.1"}):
        with running_server({**base, **extra}, tmp_path / f"server{len(seen)}.log") as server:
            token = httpx.post(
                server.url + "/api/v1/auth/token",
                json={"username": "proxy.admin", "password": DEFAULT_PASSWORD},
            ).json()["access_token"]
            seen.append(_failed_login_client(server.url, token))
    assert seen == ["127.0.0.1", SPOOFED]
