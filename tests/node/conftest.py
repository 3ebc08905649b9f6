"""A real server process holding the six baselines, and an enrolled hospital, for node tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.utils.processes import (
    ServerProcess,
    hospital_token,
    medfed_env,
    run_medfed,
    running_server,
    serving_node,
)

HEART_COLUMNS = "age,sex,cp,trestbps,chol,fbs,restecg,thalach,exang,oldpeak,slope,ca,thal,num"


@dataclass
class LiveNetwork:
    server: ServerProcess
    env: dict[str, str]
    node_home: Path

    def enable_buffer(self, disease: str = "heart", size: int = 3) -> None:
        """Switch buffered contributions on, as an administrator would on the server host."""
        result = run_medfed(
            ["buffered", "enable", disease, "--size", str(size), "--plain-mode-acknowledged"],
            self.env,
        )
        assert result.returncode == 0, result.stderr

    def new_enrollment_token(self, hospital: str) -> str:
        return hospital_token(self.env, hospital)


@pytest.fixture
def live_network(trained_settings: Settings, tmp_path: Path) -> Iterator[LiveNetwork]:
    env = medfed_env(
        tmp_path / "server-home",
        trained_settings.resolved_database_url,
        tmp_path / "node",
        MEDFED_ARTIFACTS_DIR=str(trained_settings.resolved_artifacts_dir),
    )
    with running_server(env, tmp_path / "server.log") as server:
        yield LiveNetwork(server, env, tmp_path / "node")


def site_csv(
    datasets_dir: Path, site: str, destination: Path, extra: dict[str, list[str]] | None = None
) -> Path:
    """One heart site's rows as a hospital would export them (header, empty cells for missing)."""
    lines = [
        line
        for line in (datasets_dir / "heart" / f"processed.{site}.data").read_text().splitlines()
        if line
    ]
    rows = [line.replace("?", "").replace("NaN", "") for line in lines]
    extra = extra or {}
    header = ",".join([*extra, HEART_COLUMNS])
    body = [
        ",".join([*(values[i] for values in extra.values()), row]) for i, row in enumerate(rows)
    ]
    destination.write_text("\n".join([header, *body]) + "\n")
    return destination


def open_heart_round(
    process: ServerProcess, headers: dict[str, str], **config: object
) -> httpx.Response:
    """A heart round for three small sites: it starts at once and any candidate may deploy."""
    defaults = {"disease": "heart", "min_hospitals": 3, "min_rows": 50, "grace_seconds": 0}
    body = {**defaults, "local_epochs": 1, "tolerance": 1.0, **config}
    return httpx.post(process.url + "/api/v1/rounds", json=body, headers=headers)


def admin_headers(server: ServerProcess, db: Session) -> dict[str, str]:
    admin = make_user(db, "admin")
    db.rollback()
    token = httpx.post(
        server.url + "/api/v1/auth/token",
        json={"username": admin.username, "password": DEFAULT_PASSWORD},
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def round_state(server: ServerProcess, headers: dict[str, str], round_id: int) -> dict[str, object]:
    return dict(httpx.get(f"{server.url}/api/v1/rounds/{round_id}", headers=headers).json())


@pytest.fixture
def node_url(tmp_path: Path) -> Iterator[str]:
    """`medfed node serve` alone (no server, not enrolled): the node's own pages and API."""
    env = medfed_env(tmp_path / "server-home", "sqlite://", node_home=tmp_path / "node")
    with serving_node(env, tmp_path / "node.log") as url:
        yield url
