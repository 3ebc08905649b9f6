"""Rounds that wait on nothing: nodes long-poll, stages end on their last message, and a node
whose long poll is cut (the server killed and restarted) carries on with back-off.

Each server here ticks only every 60 s: a round that finishes well inside that time did so
because the last message of each step kicked the ticker and the ticker's transitions woke the
nodes' held requests, not because anything polled.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from medfed.cli.server import SHUTDOWN_GRACE_SECONDS
from medfed.core.config import Settings
from medfed.node import enroll as node_enroll
from medfed.node import tls as node_tls
from medfed.node.client import ServerClient
from medfed.node.rounds import Participation, RoundAgent
from medfed.node.state import NodeState
from tests.node.conftest import admin_headers, open_heart_round, round_state, site_csv
from tests.utils.processes import (
    ServerProcess,
    free_port,
    hospital_token,
    medfed_env,
    running_server,
)

SITES = ("cleveland", "hungarian", "va")
FINISHED = ("deployed", "rejected", "failed")
SLOW_TICK = "60"  # seconds: far longer than any round below may take


def _env(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    return medfed_env(
        home,
        settings.resolved_database_url,
        MEDFED_ARTIFACTS_DIR=str(settings.resolved_artifacts_dir),
        MEDFED_POLICY_MIN_ROWS="50",
        MEDFED_ROUND_TICK_SECONDS=SLOW_TICK,
        **extra,
    )


def _enroll(server: ServerProcess, env: dict[str, str], home: Path, name: str) -> str:
    token = hospital_token(env, name)
    return node_enroll.enroll(home, server.url, token, node_name=name).credential


def _open(server: ServerProcess, headers: dict[str, str], secure: bool) -> int:
    opened = open_heart_round(
        server, headers, max_hospitals=3, local_steps=5, target_epsilon=2.0, secure=secure
    )
    assert opened.status_code == 201, opened.text
    return int(opened.json()["id"])


def _final(
    server: ServerProcess, headers: dict[str, str], round_id: int, seconds: float, what: str
) -> dict[str, object]:
    """The round once it has finished (failing the test if it does not within `seconds`)."""
    _until(lambda: round_state(server, headers, round_id)["status"] in FINISHED, seconds, what)
    return round_state(server, headers, round_id)


def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds} s")


class Nodes:
    """Three hospital nodes following rounds with `RoundAgent.run`, each on its own thread."""

    def __init__(self, tmp_path: Path, datasets_dir: Path) -> None:
        self.tmp_path = tmp_path
        self.files = {s: site_csv(datasets_dir, s, tmp_path / f"{s}.csv") for s in SITES}
        self.logs: dict[str, list[str]] = {s: [] for s in SITES}
        self.threads: list[threading.Thread] = []
        self.failures: list[BaseException] = []

    def enroll(self, server: ServerProcess, env: dict[str, str], label: str) -> None:
        self.credentials = {
            s: _enroll(server, env, self.tmp_path / s, f"{s} {label}") for s in SITES
        }

    def start(self, url: str, *, poll: float) -> None:
        for site in SITES:
            agent = RoundAgent(
                self.tmp_path / site,
                ServerClient(
                    url,
                    self.credentials[site],
                    ssl_context=node_tls.ssl_context(self.tmp_path / site),
                ),
                Participation("heart", self.files[site]),
                say=lambda line, site=site: self.logs[site].append(
                    f"{time.monotonic():.1f} {line}"
                ),
            )
            thread = threading.Thread(target=self._follow, args=(agent, poll), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _follow(self, agent: RoundAgent, poll: float) -> None:
        try:
            agent.run(poll_seconds=poll, rounds=1, wait_seconds=20.0)
        except BaseException as failure:  # surfaced by `join`
            self.failures.append(failure)

    def join(self, seconds: float) -> None:
        for thread in self.threads:
            thread.join(timeout=seconds)
        assert not self.failures, self.failures
        assert not any(t.is_alive() for t in self.threads), self.logs

    def trainings(self, site: str, round_id: int) -> int:
        jobs = NodeState(self.tmp_path / site).jobs()
        return sum(j.id.startswith(f"r{round_id}-") for j in jobs)


def test_a_long_poll_answers_when_a_round_opens_and_304_when_nothing_changed(
    trained_settings: Settings, tmp_path: Path, trained_db: Session
) -> None:
    env = _env(trained_settings, tmp_path / "home")
    with running_server(env, tmp_path / "server.log") as server:
        credential = _enroll(server, env, tmp_path / "node", "Watching Hospital")
        node = {"Authorization": f"Bearer {credential}"}
        first = httpx.get(server.url + "/api/v1/nodes/rounds", headers=node)
        assert first.status_code == 200 and first.json() == []
        tag = first.headers["etag"]
        assert tag.startswith('W/"')
        # Nothing changes: held for the wait, then 304 with the same tag.
        quiet = httpx.get(
            server.url + "/api/v1/nodes/rounds",
            params={"wait": 1},
            headers={**node, "If-None-Match": tag},
        )
        assert quiet.status_code == 304 and quiet.headers["etag"] == tag
        # A round opened while the node waits: the held request answers with it.
        headers = admin_headers(server, trained_db)
        answers: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: answers.append(
                httpx.get(
                    server.url + "/api/v1/nodes/rounds",
                    params={"wait": 30},
                    headers={**node, "If-None-Match": tag},
                    timeout=40,
                )
            )
        )
        started = time.monotonic()
        waiting.start()
        time.sleep(0.5)
        round_id = _open(server, headers, secure=True)
        waiting.join(timeout=40)
        held = time.monotonic() - started
        assert answers and answers[0].status_code == 200
        assert [r["id"] for r in answers[0].json()] == [round_id]
        assert answers[0].headers["etag"] != tag
        assert held < 15, f"the held request answered only after {held:.1f} s"
        # Bad input is a 422 naming the field, never a 5xx.
        too_long = httpx.get(
            server.url + "/api/v1/nodes/rounds", params={"wait": 3600}, headers=node
        )
        assert too_long.status_code == 422 and "wait" in too_long.text
        assert httpx.get(server.url + "/api/v1/nodes/rounds").status_code == 401


@pytest.mark.parametrize(
    ("secure", "workers"),
    [(True, "1"), (False, "1"), (True, "2")],
    ids=["secure", "plain", "secure-two-server-processes"],
)
def test_a_round_moves_on_its_last_messages_not_on_ticks(
    secure: bool,
    workers: str,
    trained_settings: Settings,
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    env = _env(trained_settings, tmp_path / "home", MEDFED_WORKERS=workers)
    nodes = Nodes(tmp_path, datasets_dir)
    with running_server(env, tmp_path / "server.log") as server:
        nodes.enroll(server, env, "prompt")
        headers = admin_headers(server, trained_db)
        nodes.start(server.url, poll=30.0)  # a fallback poll would take longer than the test
        time.sleep(1.0)  # the nodes are holding their first long polls
        round_id = _open(server, headers, secure)
        final = _final(server, headers, round_id, 45, "the round finishing without ticks")
        nodes.join(30)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["result_version"] == "v1.1"


def test_nodes_reconnect_with_back_off_when_the_server_is_killed_mid_round(
    trained_settings: Settings, datasets_dir: Path, tmp_path: Path, trained_db: Session
) -> None:
    env = _env(trained_settings, tmp_path / "home")
    port = free_port()
    nodes = Nodes(tmp_path, datasets_dir)
    with running_server(env, tmp_path / "server-1.log", port=port) as first:
        nodes.enroll(first, env, "cut")
        nodes.start(first.url, poll=0.5)
        time.sleep(1.5)
        first.process.kill()  # every node's held long poll is cut at once
        first.process.wait()
    time.sleep(2.0)  # the nodes find no server for a while and back off
    # The second server dies (SIGKILL) on the first masked input, before committing it: in the
    # middle of the protocol, however fast the stages run.
    crashing = {**env, "MEDFED_FAULT_POINT": "secagg:masked_input:before_commit"}
    with running_server(crashing, tmp_path / "server-2.log", port=port) as second:
        headers = admin_headers(second, trained_db)
        round_id = _open(second, headers, secure=True)
        _until(lambda: second.process.poll() is not None, 60, "the crash at a masked input")
    with running_server(env, tmp_path / "server-3.log", port=port) as third:
        headers = admin_headers(third, trained_db)
        final = _final(third, headers, round_id, 90, "the round finishing after restarts")
        nodes.join(30)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["evaluation"]["contributors"] == 3  # type: ignore[index]
    for site in SITES:
        assert nodes.trainings(site, round_id) == 1  # trained once: no step lost, none repeated
        assert any("Trying again" in line for line in nodes.logs[site]), nodes.logs[site]
        assert any("answers again" in line for line in nodes.logs[site]), nodes.logs[site]


def _held_poll(url: str, credential: str, tag: str) -> socket.socket:
    """A raw long poll (wait 50 s) whose connection the caller may close mid-wait."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        (
            f"GET /api/v1/nodes/rounds?wait=50 HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {credential}\r\nIf-None-Match: {tag}\r\n\r\n"
        ).encode()
    )
    return sock


def _stop(server: ServerProcess) -> float:
    started = time.monotonic()
    server.process.terminate()
    server.process.wait(timeout=60)
    return time.monotonic() - started


def test_a_stopping_server_does_not_wait_out_held_polls(
    trained_settings: Settings, tmp_path: Path
) -> None:
    env = _env(trained_settings, tmp_path / "home")
    with running_server(env, tmp_path / "server-1.log") as first:
        credential = _enroll(first, env, tmp_path / "node", "Stopping Hospital")
        tag = httpx.get(
            first.url + "/api/v1/nodes/rounds", headers={"Authorization": f"Bearer {credential}"}
        ).headers["etag"]
        gone = _held_poll(first.url, credential, tag)
        time.sleep(0.5)
        gone.close()  # the node stopped: its held request ends with its connection
        time.sleep(0.5)
        assert _stop(first) < SHUTDOWN_GRACE_SECONDS - 1
    with running_server(env, tmp_path / "server-2.log") as second:
        live = _held_poll(second.url, credential, tag)
        time.sleep(0.5)
        # A node still waiting: its poll is cut at the grace, not held for its 50 s.
        assert _stop(second) < SHUTDOWN_GRACE_SECONDS + 5
        live.settimeout(5)
        answer = live.recv(4096).decode()
        live.close()
        # Told to come back (the node retries a 503 with back-off), not sent a 500.
        assert answer.startswith("HTTP/1.1 503"), answer
        assert "restarting" in answer
