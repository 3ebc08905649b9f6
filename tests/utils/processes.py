"""Run the real `medfed` command and a real server process, as an operator would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def medfed_env(
    home: Path, database_url: str, node_home: Path | None = None, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")}
    env.update(
        MEDFED_HOME=str(home),
        MEDFED_DATABASE_URL=database_url,
        MEDFED_NODE_HOME=str(node_home or home.parent / "node"),
        MEDFED_ENV="test",
        MEDFED_SECRET_KEY="cli-test-secret-key-0123456789-abcdefghij",
        MEDFED_TRAIN_BASELINES="false",
        MEDFED_ROUND_TICK_SECONDS="0.2",
        MEDFED_WORKERS="1",  # one process per test server; multi-process tests say otherwise
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run_medfed(
    args: list[str], env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medfed", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def hospital_token(env: dict[str, str], hospital: str) -> str:
    """Register a hospital as `medfed admin create-hospital` does on the server host (the same
    services, on the database `env` names), in this process: a command-line process per
    hospital cost about 1.6 s of CPU in every test that enrolls nodes. The command itself is
    tested in tests/cli."""
    from medfed.core.config import Settings
    from medfed.server.db.engine import make_engine, make_session_factory, transaction
    from medfed.server.services import accounts, authority, enrollment

    secret = env["MEDFED_SECRET_KEY"]
    engine = make_engine(env["MEDFED_DATABASE_URL"])
    try:
        with transaction(make_session_factory(engine)) as session:
            created = accounts.create_hospital(session, hospital, actor="cli:test")
            issued = enrollment.create_enrollment_token(
                session,
                created,
                ttl_hours=Settings.model_fields["enrollment_token_ttl_hours"].default,
                actor="cli:test",
                authority_fingerprint=authority.load_or_create(session, secret).fingerprint,
            )
            return issued.token
    finally:
        engine.dispose()


def node_credential(node_home: Path) -> str:
    """The credential a node saved at enrollment."""
    return str(json.loads((node_home / "credential.json").read_text())["credential"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server(
    env: dict[str, str], log_path: Path, startup_timeout: float = 60, port: int | None = None
) -> Iterator[ServerProcess]:
    port = port or free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "medfed", "server", "start", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # A server that issues its own TLS certificate speaks https; readiness is asked without
    # verifying it (tests verify it themselves, against the network's authority).
    https = bool(env.get("MEDFED_TLS_HOSTNAMES") or env.get("MEDFED_TLS_CERT"))
    url = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    server = ServerProcess(url, process, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log()}")
            try:
                if httpx.get(url + "/readyz", timeout=1, verify=not https).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def serving_node(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`medfed node serve` on a free loopback port, as hospital staff start it; yields its URL
    once the local API answers."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "medfed", "node", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/api/registry", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)
