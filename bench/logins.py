"""12. Failed logins under load: how slow /readyz and a doctor's GET /api/v1/models get while
N clients keep sending wrong passwords (each one an Argon2 hash on the server), against a real
`medfed server` on SQLite. The password check runs outside the database session, so other
requests should not queue behind it."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fl_runs import DATASETS
from harness import header, median, percentile, running_server
from serving import PASSWORD, server_env

ATTACKERS = (0, 8, 50)


def _attack(url: str, stop: threading.Event, index: int, counts: list[int]) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            client.post(
                f"{url}/api/v1/auth/token",
                json={"username": f"guess{index % 7}", "password": "not the password"},
            )
            counts[index] += 1


def _probe(url: str, path: str, token: str | None, seconds: float) -> list[float]:
    """Latencies (ms) of one client calling `path` back to back for `seconds`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    times = []
    with httpx.Client(timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            response = client.get(url + path, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
            time.sleep(0.02)
    return times


def measure(url: str, token: str, attackers: int, seconds: float) -> dict[str, float]:
    stop = threading.Event()
    counts = [0] * attackers
    # Attackers come from other addresses in real life; here the per-address login limit would
    # stop them after a few tries, so it is raised for the benchmark (see `run`).
    threads = [
        threading.Thread(target=_attack, args=(url, stop, i, counts)) for i in range(attackers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0 if attackers else 0)
    results: dict[str, list[float]] = {}
    probes = [
        threading.Thread(
            target=lambda p=path, t=tok: results.__setitem__(p, _probe(url, p, t, seconds))
        )
        for path, tok in (("/readyz", None), ("/api/v1/models", token))
    ]
    for probe in probes:
        probe.start()
    for probe in probes:
        probe.join()
    stop.set()
    for thread in threads:
        thread.join()
    ready, models = results["/readyz"], results["/api/v1/models"]
    return {
        "attackers": attackers,
        "failed_logins_per_s": round(sum(counts) / (seconds + (1.0 if attackers else 0)), 1),
        "readyz_p50_ms": round(median(ready), 1),
        "readyz_p99_ms": round(percentile(ready, 99), 1),
        "readyz_max_ms": round(max(ready), 1),
        "models_p50_ms": round(median(models), 1),
        "models_p99_ms": round(percentile(models, 99), 1),
    }


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    seconds = 3.0 if quick else 15.0
    attackers = (0, 8) if quick else ATTACKERS
    rows = []
    with tempfile.TemporaryDirectory() as home:
        env = server_env(Path(home) / "server", DATASETS)
        env["MEDFED_LOGIN_RATE_PER_MINUTE"] = "1000000"  # every guess reaches the hash
        with running_server(env) as url:
            token = httpx.post(
                f"{url}/api/v1/auth/token", json={"username": "bench-doctor", "password": PASSWORD}
            ).json()["access_token"]
            for count in attackers:
                rows.append(measure(url, token, count, seconds))
    return 1, {"seconds": seconds, "results": rows}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"A real `medfed server` on SQLite; N clients send wrong passwords back to back (the "
        f"per-address login limit raised so that every guess reaches Argon2), while one client "
        f"calls /readyz and another a doctor's GET /api/v1/models every 20 ms for "
        f"{record['seconds']:g} s. Everything shares the 2 cores.",
        "",
        "| failed-login clients | failed logins/s | /readyz p50 | /readyz p99 | /readyz max | "
        "/api/v1/models p50 | /api/v1/models p99 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        lines.append(
            f"| {row['attackers']} | {row['failed_logins_per_s']:g} | "
            f"{row['readyz_p50_ms']:g} ms | {row['readyz_p99_ms']:g} ms | "
            f"{row['readyz_max_ms']:g} ms | {row['models_p50_ms']:g} ms | "
            f"{row['models_p99_ms']:g} ms |"
        )
    return "\n".join(lines)
