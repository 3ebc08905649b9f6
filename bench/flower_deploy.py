"""Flower's deployment engine for the round-overhead table: one SuperLink and N SuperNodes as
separate processes over gRPC on loopback (insecure), running the Flower App in
`bench/flower_deployment/` (a 24-parameter FedAvg whose client work takes a few milliseconds),
installed by the harness into its own virtual environment (never a MedFed dependency).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import ROOT, free_port

FLOWER = ("flwr==1.18.0", "click<8.2", "numpy")  # flwr 1.18's CLI needs click before 8.2
CACHE = Path(os.environ.get("MEDFED_BENCH_CACHE", Path.home() / ".cache" / "medfed-bench"))
VENV = CACHE / "flower-deploy-1.18.0"
APP = ROOT / "bench" / "flower_deployment"


def flower_bin() -> tuple[Path | None, str]:
    """The Flower venv's bin folder, installing it the first time; or None and why not."""
    folder = VENV / "bin"
    if (folder / "flower-superlink").exists() and (folder / "flwr").exists():
        return folder, ""
    CACHE.mkdir(parents=True, exist_ok=True)
    for step in (
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(folder / "python"), "-m", "pip", "install", "--quiet", *FLOWER],
    ):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"could not install {FLOWER[0]}: {(done.stderr or done.stdout)[-400:]}"
    return folder, ""


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """In a session of its own: the SuperLink and SuperNodes start the apps as children, and
    stopping the group stops those too."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def round_seconds(nodes: int, rounds: int) -> dict[str, Any]:
    """Seconds per round (between consecutive aggregations; the first round is left out) of
    one run with `nodes` SuperNodes, or why there is none."""
    folder, why = flower_bin()
    if folder is None:
        return {"error": why}
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="medfed-bench-flower-deploy-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "FLWR_HOME": str(work / "flwr-home")}
        serverappio, fleet, control = free_port(), free_port(), free_port()
        app = work / "app"
        shutil.copytree(APP, app)
        project = app / "pyproject.toml"
        project.write_text(project.read_text().replace("127.0.0.1:9093", f"127.0.0.1:{control}"))
        marks = work / "marks.txt"
        try:
            processes.append(
                _start(
                    [
                        str(folder / "flower-superlink"),
                        "--insecure",
                        "--serverappio-api-address",
                        f"127.0.0.1:{serverappio}",
                        "--fleet-api-address",
                        f"127.0.0.1:{fleet}",
                        "--exec-api-address",
                        f"127.0.0.1:{control}",
                    ],
                    work / "superlink.log",
                    env,
                )
            )
            for index in range(nodes):
                processes.append(
                    _start(
                        [
                            str(folder / "flower-supernode"),
                            "--insecure",
                            "--superlink",
                            f"127.0.0.1:{fleet}",
                            "--clientappio-api-address",
                            f"127.0.0.1:{free_port()}",
                            "--node-config",
                            f"partition-id={index}",
                        ],
                        work / f"supernode-{index}.log",
                        env,
                    )
                )
            time.sleep(3.0)  # the SuperLink listens and the SuperNodes have registered
            config = f"num-server-rounds={rounds} num-nodes={nodes} marks-path='{marks}'"
            started = subprocess.run(
                [str(folder / "flwr"), "run", str(app), "local", "--run-config", config],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            if started.returncode != 0:
                return {"error": f"flwr run failed: {(started.stderr or started.stdout)[-400:]}"}
            deadline = time.monotonic() + 60 + 20 * rounds
            while time.monotonic() < deadline:
                lines = marks.read_text().splitlines() if marks.exists() else []
                if len(lines) >= rounds:
                    break
                time.sleep(0.5)
            else:
                return {"error": f"Flower finished {len(lines)} of {rounds} rounds in time"}
        finally:
            _stop(processes)
    times = [float(line.split()[1]) for line in lines[:rounds]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return {"round_s": statistics.median(gaps), "rounds": len(gaps)}
