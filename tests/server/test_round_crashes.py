"""Crash safety of rounds: SIGKILL the real server at named points and at random moments, restart,
and check that no update is lost or counted twice and no half-written version exists. Also 50
submissions at once, each counted exactly once. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from medfed.server.db.tables import Contribution, ModelVersion, Round, RoundMember
from medfed.server.services import audit, registry
from medfed.server.storage import LocalArtifactStore
from tests.factories import DEFAULT_PASSWORD, make_node, make_user
from tests.server.rounds_harness import encode
from tests.utils.processes import ServerProcess, medfed_env, running_server

post = functools.partial(httpx.post, timeout=60)  # slow CI machines: Argon2 under load
ROUND = {
    "disease": "heart",
    "grace_seconds": 0,
    "min_rows": 50,
    "target_epsilon": None,
    "secure": False,  # plain mode: these tests send raw updates
}


class Network:
    def __init__(self, settings: Settings, db: Session, tmp_path: Path, nodes: int) -> None:
        self.settings, self.db, self.tmp_path = settings, db, tmp_path
        self.credentials = [make_node(db)[1] for _ in range(nodes)]
        self.admin_name = make_user(db, "admin").username
        base = registry.active_version(db, "heart")
        store = LocalArtifactStore(settings.resolved_artifacts_dir)
        from medfed.ml.model import DiseaseModel

        self.size = DiseaseModel.from_bytes(store.get(base.artifact_key)).parameters.shape[0]
        db.rollback()
        self.starts = 0

    def env(self, **extra: str) -> dict[str, str]:
        return medfed_env(
            self.tmp_path / "home",
            self.settings.resolved_database_url,
            MEDFED_ARTIFACTS_DIR=str(self.settings.resolved_artifacts_dir),
            MEDFED_ROUND_TICK_SECONDS="0.1",
            **extra,
        )

    def server(self, **extra: str):  # type: ignore[no-untyped-def]
        self.starts += 1
        return running_server(self.env(**extra), self.tmp_path / f"server-{self.starts}.log")

    def admin_headers(self, server: ServerProcess) -> dict[str, str]:
        token = post(
            server.url + "/api/v1/auth/token",
            json={"username": self.admin_name, "password": DEFAULT_PASSWORD},
        )
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def node(self, index: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials[index]}"}

    def update(self, index: int, job: str | None = None) -> dict[str, object]:
        vector = np.random.default_rng(index).normal(0, 1e-3, self.size)
        return {
            "job_ref": job or f"job-{index}",
            "base_version": "v1.0",
            "rows": 100 + index,
            "epsilon": None,
            "delta": None,
            "metrics": {},
            "update": encode(vector),
        }

    def open_and_join(self, server: ServerProcess, members: int, **config: object) -> int:
        opened = post(
            server.url + "/api/v1/rounds",
            json={**ROUND, "min_hospitals": members, "max_hospitals": members, **config},
            headers=self.admin_headers(server),
        )
        assert opened.status_code == 201, opened.text
        round_id = int(opened.json()["id"])
        for index in range(members):
            joined = post(
                f"{server.url}/api/v1/nodes/rounds/{round_id}/join",
                json={"rows": 100},
                headers=self.node(index),
            )
            assert joined.status_code == 201, joined.text
        wait_for(lambda: self.status(round_id) == "training")
        return round_id

    def submit(
        self, server: ServerProcess, round_id: int, index: int, job: str | None = None
    ) -> httpx.Response:
        return post(
            f"{server.url}/api/v1/nodes/rounds/{round_id}/update",
            json=self.update(index, job),
            headers=self.node(index),
        )

    def evaluate_all(self, server: ServerProcess, round_id: int, members: int) -> None:
        for index in range(members):
            response = post(
                f"{server.url}/api/v1/nodes/rounds/{round_id}/evaluation",
                json={"rows": 50, "base": {"accuracy": 0.8}, "candidate": {"accuracy": 0.8}},
                headers=self.node(index),
            )
            assert response.status_code == 200, response.text

    def status(self, round_id: int) -> str:
        round_ = self.db.get(Round, round_id)
        assert round_ is not None
        self.db.refresh(round_)
        status = round_.status
        self.db.rollback()  # SQLite: end the read so the server can write
        return status

    def counts(self, round_id: int) -> tuple[int, int, int]:
        """(contributions, members that submitted, heart versions)."""
        contributions = self.db.scalar(select(func.count()).select_from(Contribution))
        submitted = self.db.scalar(
            select(func.count())
            .select_from(RoundMember)
            .where(RoundMember.round_id == round_id, RoundMember.status != "joined")
        )
        versions = self.db.scalar(
            select(func.count()).select_from(ModelVersion).where(ModelVersion.disease == "heart")
        )
        self.db.rollback()
        return int(contributions or 0), int(submitted or 0), int(versions or 0)

    def audit_intact(self) -> bool:
        verdict = audit.verify(self.db)
        self.db.rollback()
        return verdict.ok


def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def wait_killed(server: ServerProcess) -> None:
    assert server.process.wait(timeout=60) == -signal.SIGKILL, server.log()


@pytest.mark.parametrize("point", ["aggregate:after_artifact", "deploy:before_commit"])
def test_killed_while_aggregating_or_deploying_the_round_resumes(
    point: str, trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    network = Network(trained_settings, trained_db, tmp_path, nodes=3)
    with network.server(MEDFED_FAULT_POINT=point) as server:
        round_id = network.open_and_join(server, 3)
        for index in range(3):
            assert network.submit(server, round_id, index).status_code == 201
        if point == "deploy:before_commit":
            wait_for(lambda: network.status(round_id) == "evaluating")
            network.evaluate_all(server, round_id, 3)
        wait_killed(server)
    before = "training" if point.startswith("aggregate") else "evaluating"
    assert network.status(round_id) == before
    assert network.counts(round_id) == (3, 3, 1)  # no update lost, no version half-written
    with network.server() as server:
        if before == "training":
            wait_for(lambda: network.status(round_id) == "evaluating")
            network.evaluate_all(server, round_id, 3)
        # Same accuracy everywhere: not promoted, but the training line gains v1.1 either way.
        wait_for(lambda: network.status(round_id) in ("deployed", "rejected"))
    assert network.counts(round_id) == (3, 3, 2)  # exactly one new version, v1.1
    assert network.audit_intact()


def test_killed_before_a_submission_commits_the_node_can_send_it_again(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    network = Network(trained_settings, trained_db, tmp_path, nodes=3)
    with network.server(MEDFED_FAULT_POINT="submit:before_commit") as server:
        round_id = network.open_and_join(server, 3)
        with pytest.raises(httpx.HTTPError):
            network.submit(server, round_id, 0)
        wait_killed(server)
    assert network.counts(round_id) == (0, 0, 1)
    with network.server() as server:
        assert network.submit(server, round_id, 0).status_code == 201  # same job, not a replay
        assert network.submit(server, round_id, 0).status_code == 409  # and only once
    assert network.counts(round_id) == (1, 1, 1)


def test_sigkill_at_random_moments_during_submissions_loses_and_doubles_nothing(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    members = 12
    network = Network(trained_settings, trained_db, tmp_path, nodes=members)
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    round_id = None
    for attempt in range(3):
        with network.server() as server:
            if round_id is None:
                round_id = network.open_and_join(server, members, submit_seconds=3600)

            def send(index: int, server: ServerProcess = server) -> None:
                # The server may die under us; the node retries after the restart.
                with contextlib.suppress(httpx.HTTPError):
                    network.submit(server, round_id, index)  # type: ignore[arg-type]

            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(send, i) for i in range(members)]
                time.sleep(float(rng.uniform(0.0, 0.4)) if attempt < 2 else 0)
                if attempt < 2:
                    os.kill(server.process.pid, signal.SIGKILL)
                for future in futures:
                    future.result()
            if attempt == 2:
                # After the restarts every node sends (again); "already received" is fine.
                codes = [network.submit(server, round_id, i).status_code for i in range(members)]
                assert set(codes) <= {201, 409}
                wait_for(lambda: network.status(round_id) == "evaluating")  # type: ignore[arg-type]
    contributions, submitted, _ = network.counts(round_id)  # type: ignore[arg-type]
    assert contributions == submitted == members
    assert network.audit_intact()


def test_fifty_concurrent_submissions_are_each_counted_exactly_once(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    members = 50
    network = Network(trained_settings, trained_db, tmp_path, nodes=members)
    with network.server() as server:
        round_id = network.open_and_join(server, members, submit_seconds=3600)
        jobs = [(i, f"job-{i}") for i in range(members)] + [
            (i, f"again-{i}") for i in range(members)
        ]
        with ThreadPoolExecutor(32) as pool:
            codes = list(
                pool.map(lambda job: network.submit(server, round_id, *job).status_code, jobs)
            )
        assert codes.count(201) == members and codes.count(409) == members, codes
        wait_for(lambda: network.status(round_id) == "evaluating")
    contributions, submitted, _ = network.counts(round_id)
    assert contributions == submitted == members
    assert network.audit_intact()


def _campaign_rounds(network: Network, campaign_id: int) -> list[tuple[int, int, int]]:
    """(id, number, base version id) of the campaign's rounds; the read ends before returning."""
    from medfed.server.db.tables import CampaignRound

    found = [
        (r.id, r.number, r.base_version_id)
        for r in network.db.scalars(
            select(Round)
            .join(CampaignRound, CampaignRound.round_id == Round.id)
            .where(CampaignRound.campaign_id == campaign_id)
            .order_by(Round.id)
        )
    ]
    network.db.rollback()  # SQLite: end the read so the server can write
    return found


def test_killed_while_a_campaign_opens_its_round_it_resumes_without_a_second_round(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    network = Network(trained_settings, trained_db, tmp_path, nodes=3)
    settings = {k: v for k, v in ROUND.items() if k not in ("disease", "target_epsilon")}
    body = {"disease": "heart", "rounds": 2, "patience": None, "round": settings}
    with network.server(MEDFED_FAULT_POINT="campaign:after_open") as server:
        started = post(
            server.url + "/api/v1/campaigns", json=body, headers=network.admin_headers(server)
        )
        assert started.status_code == 201, started.text
        campaign_id = started.json()["id"]
        wait_killed(server)
    assert _campaign_rounds(network, campaign_id) == []  # the open rolled back with the link
    with network.server():
        wait_for(lambda: len(_campaign_rounds(network, campaign_id)) == 1)
        time.sleep(1)  # ten more ticks: still exactly one round, open
        [(first, number, _)] = _campaign_rounds(network, campaign_id)
        assert network.status(first) == "open" and number == 1
    assert network.audit_intact()


def test_killed_while_aggregating_the_buffer_keeps_every_contribution(
    trained_settings: Settings, trained_db: Session, tmp_path: Path
) -> None:
    network = Network(trained_settings, trained_db, tmp_path, nodes=2)
    buffer = {"size": 2, "require_dp": False, "plain_mode_acknowledged": True}
    with network.server(MEDFED_FAULT_POINT="buffer:before_commit") as server:
        enabled = httpx.put(
            server.url + "/api/v1/buffers/heart",
            json=buffer,
            headers=network.admin_headers(server),
            timeout=60,
        )
        assert enabled.status_code == 200, enabled.text
        for index in range(2):
            sent = post(
                server.url + "/api/v1/nodes/contributions",
                json={**network.update(index), "disease": "heart", "rows": 250},
                headers=network.node(index),
            )
            assert sent.status_code == 201, sent.text
        wait_killed(server)
    statuses = sorted(trained_db.scalars(select(Contribution.status)))
    trained_db.rollback()
    assert statuses == ["pending", "pending"] and network.counts(0)[2] == 1
    with network.server():
        wait_for(lambda: network.counts(0)[2] == 2)
        time.sleep(1)
    statuses = sorted(trained_db.scalars(select(Contribution.status)))
    trained_db.rollback()
    assert statuses == ["aggregated", "aggregated"] and network.counts(0)[2] == 2
    assert network.audit_intact()
