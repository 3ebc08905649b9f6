"""The operator's path from a clean home to an enrolled node, through the real command and server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from medfed.server.db.engine import make_engine
from tests.utils.processes import medfed_env, run_medfed, running_server

ADMIN_PASSWORD = "first-root-passphrase-9"


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return medfed_env(tmp_path / "home", database_url, tmp_path / "node")


def create_hospital(env: dict[str, str], name: str) -> str:
    result = run_medfed(["admin", "create-hospital", name], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_init_creates_the_first_admin_once(env: dict[str, str]) -> None:
    no_password = run_medfed(["server", "init"], env)
    assert no_password.returncode == 2 and "MEDFED_ADMIN_PASSWORD" in no_password.stderr
    first = run_medfed(["server", "init"], {**env, "MEDFED_ADMIN_PASSWORD": ADMIN_PASSWORD})
    assert first.returncode == 0 and "Created administrator admin" in first.stdout
    second = run_medfed(["server", "init"], {**env, "MEDFED_ADMIN_PASSWORD": ADMIN_PASSWORD})
    assert second.returncode == 1 and "already initialised" in second.stderr


def test_production_server_refuses_to_start_without_a_secret(env: dict[str, str]) -> None:
    result = run_medfed(
        ["server", "start"], {**env, "MEDFED_ENV": "production", "MEDFED_SECRET_KEY": ""}
    )
    assert result.returncode == 2
    assert "MEDFED_SECRET_KEY" in result.stderr and "secrets.token_urlsafe" in result.stderr


def test_hospital_enrolls_a_node_over_http_and_nothing_secret_is_logged(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert (
        run_medfed(["server", "init"], {**env, "MEDFED_ADMIN_PASSWORD": ADMIN_PASSWORD}).returncode
        == 0
    )
    token = create_hospital(env, "Cleveland Clinic")
    assert token.startswith("mfe_")
    with running_server(env, tmp_path / "server.log") as server:
        login = httpx.post(
            f"{server.url}/api/v1/auth/token",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
        assert login.status_code == 200
        enrolled = run_medfed(
            [
                "node",
                "enroll",
                "--server",
                server.url,
                "--token",
                token,
                "--name",
                "cleveland-node",
            ],
            env,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        assert "Enrolled as node 1 of Cleveland Clinic" in enrolled.stdout

        credential_file = tmp_path / "node" / "credential.json"
        assert stat.S_IMODE(credential_file.stat().st_mode) == 0o600
        credential = json.loads(credential_file.read_text())["credential"]

        status = run_medfed(["node", "status"], env)
        assert status.returncode == 0 and "accepts this node" in status.stdout

        again = run_medfed(["node", "enroll", "--server", server.url, "--token", token], env)
        assert again.returncode == 1 and "already enrolled" in again.stderr
        reused = run_medfed(
            ["node", "enroll", "--server", server.url, "--token", token, "--force"], env
        )
        assert reused.returncode == 1 and "already used" in reused.stderr
        assert json.loads(credential_file.read_text())["credential"] == credential, (
            "a refusal must not clobber the credential"
        )
        log = server.log()
    for secret in (ADMIN_PASSWORD, token, credential, login.json()["access_token"]):
        assert secret not in log
        assert secret not in enrolled.stdout + enrolled.stderr or secret == token


def test_node_reports_an_unreachable_server_clearly(env: dict[str, str]) -> None:
    result = run_medfed(
        ["node", "enroll", "--server", "http://127.0.0.1:9", "--token", "mfe_x"], env
    )
    assert result.returncode == 1 and "Cannot reach the MedFed server" in result.stderr
    insecure = run_medfed(
        ["node", "enroll", "--server", "http://medfed.example.org", "--token", "mfe_x"], env
    )
    assert insecure.returncode == 1 and "https" in insecure.stderr


def tamper(database_url: str, statement: str) -> None:
    """An attacker with direct database access, switching the append-only triggers off first."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        if make_url(database_url).get_backend_name() == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        connection.execute(text(statement))
    engine.dispose()


TAMPERING = {
    "edited": ("UPDATE audit_events SET outcome = 'failure' WHERE seq = 3", "row 3 was edited"),
    "deleted": ("DELETE FROM audit_events WHERE seq = 3", "row 3 is missing (deleted)"),
    "inserted": (
        "INSERT INTO audit_events (seq, occurred_at, actor, action, object, outcome, details, prev_hash, row_hash) "
        "SELECT max(seq) + 1, '2026-01-01T00:00:00.000000+00:00', 'user:mallory', 'login', NULL, 'success', '{}', "
        "'0000000000000000000000000000000000000000000000000000000000000000', 'x' FROM audit_events",
        "inserted",
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_audit_verify_names_the_tampered_row(
    env: dict[str, str], database_url: str, kind: str
) -> None:
    assert (
        run_medfed(["server", "init"], {**env, "MEDFED_ADMIN_PASSWORD": ADMIN_PASSWORD}).returncode
        == 0
    )
    create_hospital(env, "Basel University Hospital")
    create_hospital(env, "Zurich University Hospital")
    clean = run_medfed(["admin", "audit", "verify"], env)
    assert clean.returncode == 0 and "intact" in clean.stdout

    statement, expected = TAMPERING[kind]
    tamper(database_url, statement)
    broken = run_medfed(["admin", "audit", "verify"], env)
    assert broken.returncode == 1
    assert expected in broken.stdout
    if kind == "inserted":
        assert "row 8" in broken.stdout  # 7 honest rows: 2 from init, 2 per hospital, 1 verify


def test_demo_creates_working_logins_once_and_refuses_foreign_homes(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = run_medfed(["demo", "--no-serve"], env)
    assert first.returncode == 0, first.stderr
    logins = json.loads((tmp_path / "home" / "demo-logins.json").read_text())
    assert set(logins) == {"admin", "doctor", "cleveland", "budapest", "longbeach"}
    assert stat.S_IMODE((tmp_path / "home" / "demo-logins.json").stat().st_mode) == 0o600
    again = run_medfed(["demo", "--no-serve"], env)
    assert again.returncode == 0 and logins["doctor"] in again.stdout
    with running_server(env, tmp_path / "server.log") as server:
        for username, password in logins.items():
            response = httpx.post(
                f"{server.url}/api/v1/auth/token", json={"username": username, "password": password}
            )
            assert response.status_code == 200, username

    # A new home on the same database: its fresh demo passwords do not open the existing accounts.
    other = medfed_env(tmp_path / "other-home", env["MEDFED_DATABASE_URL"])
    refused = run_medfed(["demo", "--no-serve"], other)
    assert refused.returncode == 1 and "did not create" in refused.stderr
