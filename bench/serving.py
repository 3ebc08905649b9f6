"""6. Serving: predict and predict+explain latency (p50, p99) and requests per second over HTTP on
loopback, at 1, 32 and 200 concurrent connections, driven by wrk against a real `medfed server`
on SQLite and on PostgreSQL, with /healthz's latency measured beside the load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fl_runs import DATASETS
from harness import header, medfed, median, running_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

PATIENTS = {
    "diabetes": {"pregnancies": 3, "glucose": 150, "blood_pressure": 72, "bmi": 31, "age": 45},
    "heart": {
        "age": 58,
        "sex": "male",
        "chest_pain": "asymptomatic",
        "resting_bp": 140,
        "max_heart_rate": 130,
        "exercise_angina": "yes",
        "st_depression": 1.8,
    },
}
PASSWORD = "latency-probe-passphrase-1"


def server_env(home: Path, datasets: Path, database_url: str | None = None) -> dict[str, str]:
    """A fresh home with one doctor account; the server trains the baselines when it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")}
    env.update(MEDFED_HOME=str(home), MEDFED_DATASETS_DIR=str(datasets), MEDFED_LOG_LEVEL="WARNING")
    if database_url:
        env["MEDFED_DATABASE_URL"] = database_url
    medfed(
        "admin",
        "create-user",
        "bench-doctor",
        "--role",
        "doctor",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    return env


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = os.getenv("MEDFED_BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("MEDFED_BENCH_TOKEN")
done = function(summary, latency, requests)
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


def wrk(
    url: str, token: str, body: dict[str, Any], clients: int, seconds: int, script: Path
) -> dict[str, float]:
    """One wrk run; refuses a run with any failed request (a benchmark of errors is no benchmark)."""
    threads = min(clients, 2)
    env = {**os.environ, "MEDFED_BENCH_BODY": json.dumps(body), "MEDFED_BENCH_TOKEN": token}
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    if result["non_2xx"] or result["socket_errors"] or not result["requests"]:
        raise RuntimeError(f"wrk saw failed requests ({clients} clients): {result}\n{done.stdout}")
    return {
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "requests": result["requests"],
    }


POSTGRES = os.environ.get(
    "MEDFED_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)


@contextmanager
def backends(home: Path, quick: bool) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """SQLite (the default: one server process) and, when a PostgreSQL server answers, a fresh
    database on it (the default there: one worker process per core)."""
    chosen = [(f"SQLite, {os.cpu_count()} workers", server_env(home / "sqlite", DATASETS))]
    database = f"medfed_bench_{os.getpid()}"
    admin = None
    try:
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {database}"))
    except SQLAlchemyError:
        admin = None  # no PostgreSQL here: its rows are left out
    if admin is not None:
        url = make_url(POSTGRES).set(database=database).render_as_string(hide_password=False)
        env = server_env(home / "postgres", DATASETS, database_url=url)
        chosen.append((f"PostgreSQL, {os.cpu_count()} workers", env))
    try:
        yield chosen
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            admin.dispose()


class HealthProbe:
    """GET /healthz every 20 ms from its own thread while the load runs: its latencies."""

    def __init__(self, url: str) -> None:
        self.url, self.latencies_ms = url, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(0.02):
                started = time.perf_counter()
                client.get(self.url + "/healthz").raise_for_status()
                self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (make bench does this).")
    repetitions, seconds = (1, 2) if quick else (3, 8)
    clients_list = (32,) if quick else (1, 32, 200)
    disease = "heart"
    results = []
    with tempfile.TemporaryDirectory() as home, backends(Path(home), quick) as chosen:
        script = Path(home) / "predict.lua"
        script.write_text(WRK_SCRIPT)
        for backend, env in chosen:
            with running_server(env) as url:
                token = httpx.post(
                    f"{url}/api/v1/auth/token",
                    json={"username": "bench-doctor", "password": PASSWORD},
                ).json()["access_token"]
                for explain in (False, True):
                    body = {"patient": PATIENTS[disease], "explain": explain}
                    endpoint = f"{url}/api/v1/models/{disease}/predict"
                    httpx.post(
                        endpoint, json=body, headers={"Authorization": f"Bearer {token}"}
                    ).raise_for_status()
                    for clients in clients_list:
                        wrk(endpoint, token, body, clients, 1, script)  # warm-up
                        with HealthProbe(url) as probe:
                            runs = [
                                wrk(endpoint, token, body, clients, seconds, script)
                                for _ in range(repetitions)
                            ]
                        results.append(
                            {
                                "backend": backend,
                                "disease": disease,
                                "mode": "predict+explain" if explain else "predict",
                                "clients": clients,
                                **{
                                    k: round(median([r[k] for r in runs]), 2)
                                    for k in ("p50_ms", "p99_ms", "rps")
                                },
                                "healthz_p99_ms": round(probe.p99(), 2),
                                "requests": sum(int(r["requests"]) for r in runs),
                            }
                        )
    return repetitions, {"seconds_per_run": seconds, "results": results}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        "| database | model | request | concurrent clients | p50 (ms) | p99 (ms) | requests/s "
        "| /healthz p99 meanwhile (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        health = row.get("healthz_p99_ms")
        lines.append(
            f"| {row.get('backend', 'SQLite')} | {row['disease']} | {row['mode']} | "
            f"{row['clients']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['rps']:.0f} | "
            f"{'-' if health is None else f'{health:.1f}'} |"
        )
    lines.append("")
    lines.append(
        f"wrk 4.1 on the same 2-core machine as the server (they share the cores), keep-alive "
        f"connections, each client sending its next request as soon as the last is answered, "
        f"{record['seconds_per_run']} s per run after a 1 s warm-up; each figure is the median "
        "over runs. Every request is authenticated (the token read afresh, never cached), "
        "validated, its serving version read on the worker's read-only connection, predicted "
        "(and for +explain explained), and its prediction row and audit row are committed, in "
        "one transaction "
        "with other requests' (group commit), before the answer is sent; any failed request "
        "fails the benchmark. On both databases the server runs its default: one worker process "
        "per core, each with its own listening socket (SO_REUSEPORT), a crowded worker shedding "
        "connections to even the split. A /healthz probe every 20 ms "
        "runs beside the load. With every client always waiting on a request, the mean latency "
        "is the number of clients divided by the throughput (Little's law)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "serving"])
