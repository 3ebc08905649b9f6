"""Several server processes on one port: each worker has its own socket, the kernel spreads
connections over them and a crowded worker sheds its excess; a port another server holds is
refused with the reason."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest

from medfed.core.catalog import get_disease, use_spec_folder
from medfed.core.config import Settings
from medfed.core.errors import NotFound
from medfed.server.app import settings_from_parent
from medfed.server.workers import WORKER_SETTINGS, worker_settings
from tests.utils.processes import medfed_env, running_server


def _workers(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    ]


def _connections(pid: int, port: int, state: str = "01") -> int:
    """TCP sockets on `port` in `state` (01 established, 0A listening) this process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while we looked
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == state and fields[9] in inodes:
                    held += 1
    return held


def test_connections_spread_over_the_workers_and_a_held_port_is_refused(
    trained_settings: Settings, tmp_path: Path
) -> None:
    env = medfed_env(tmp_path / "home", trained_settings.resolved_database_url, MEDFED_WORKERS="2")
    with running_server(env, tmp_path / "server.log") as server:
        workers = _workers(server.process.pid)
        assert len(workers) == 2, server.log()
        # The supervisor stays small (migrations and baselines ran in a child of their own), and
        # no process loads PyTorch: with its baselines registered, the server serves with NumPy.
        for pid in (server.process.pid, *workers):
            assert "libtorch" not in Path(f"/proc/{pid}/maps").read_text()
        host, port = server.url.removeprefix("http://").split(":")
        # A worker listens once its app has started; until then connections go to the others.
        deadline = time.monotonic() + 120
        while not all(_connections(pid, int(port), "0A") for pid in workers):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        clients = [HTTPConnection(host, int(port), timeout=30) for _ in range(40)]
        for client in clients:  # 40 keep-alive connections, all opened at once
            client.connect()

        def ask_each() -> int:
            """One request on each connection (reopened if the last answer closed it); how
            many answers said `Connection: close`."""
            closing = 0
            for client in clients:
                if client.sock is None:
                    client.connect()
                client.request("GET", "/healthz")
                answer = client.getresponse()
                assert answer.status == 200 and answer.read(), server.log()
                closing += answer.getheader("connection") == "close"
            return closing

        ask_each()  # each answered: each accepted by a worker
        gained = [_connections(pid, int(port)) for pid in workers]
        # Binomial(40, 1/2): each worker holds at least 8 with probability 1 - 1e-5 (6: some
        # may have closed already). A shared socket let whichever worker woke first take nearly
        # all of them.
        assert min(gained) >= 6, gained
        # Clients that keep asking end up split evenly: a crowded worker sheds its excess
        # (server/balance.py), and an even split then stays as it is.
        held = gained
        deadline = time.monotonic() + 10
        while sum(held) != 40 or max(held) - min(held) > 2:
            assert time.monotonic() < deadline, (gained, held)
            ask_each()
            time.sleep(0.06)
            for client in clients:  # reopened now, as the next request would
                if client.sock is None:
                    client.connect()
            held = [_connections(pid, int(port)) for pid in workers]
        settled = []
        for _ in range(5):
            settled.append(ask_each())
            time.sleep(0.06)
        for client in clients:
            client.close()
        # A worker re-reads the others' counts every 50 ms, so one close decided on counts from
        # just before the split evened out may still come (seen once on a loaded machine);
        # after it, none: the split stays as it is.
        assert sum(settled) <= 1 and settled[-3:] == [0] * 3, (gained, held, settled)

        second = subprocess.run(
            [sys.executable, "-m", "medfed", "server", "start", "--port", port],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert f"Cannot listen on 127.0.0.1:{port}" in second.stdout + second.stderr, second
        assert server.process.poll() is None  # the first server is untouched


def test_a_worker_process_knows_the_networks_own_disease_specs(tmp_path: Path) -> None:
    """The parent reads its settings with `load_settings`, which adds the network's own spec
    folder to the catalog; each worker rebuilds them from what the parent wrote."""
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "bench/specs/heart_flamby.yaml", specs)
    parent = Settings(home=tmp_path / "home", secret_key="s" * 40, disease_specs_dir=specs)
    try:
        settings = settings_from_parent({WORKER_SETTINGS: worker_settings(parent)})
        assert settings.disease_specs_dir == specs
        assert get_disease("heart_flamby").id == "heart_flamby"
    finally:
        use_spec_folder(None)
    with pytest.raises(NotFound):
        get_disease("heart_flamby")
