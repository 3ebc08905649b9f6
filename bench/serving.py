"""6. Serving: predict and predict+explain latency (p50, p99) and requests per second over HTTP on
loopback, at 1 and 32 concurrent connections, driven by wrk against a real `medfed server`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
from fl_runs import DATASETS
from harness import header, medfed, median, running_server

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


def server_env(home: Path, datasets: Path) -> dict[str, str]:
    """A fresh home with one doctor account; the server trains the baselines when it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")}
    env.update(MEDFED_HOME=str(home), MEDFED_DATASETS_DIR=str(datasets), MEDFED_LOG_LEVEL="WARNING")
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


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (make bench does this).")
    repetitions, seconds = (1, 2) if quick else (5, 8)
    diseases = ["diabetes"] if quick else list(PATIENTS)
    results = []
    with tempfile.TemporaryDirectory() as home:
        script = Path(home) / "predict.lua"
        script.write_text(WRK_SCRIPT)
        env = server_env(Path(home) / "server", DATASETS)
        with running_server(env) as url:
            token = httpx.post(
                f"{url}/api/v1/auth/token", json={"username": "bench-doctor", "password": PASSWORD}
            ).json()["access_token"]
            for disease in diseases:
                for explain in (False, True):
                    body = {"patient": PATIENTS[disease], "explain": explain}
                    endpoint = f"{url}/api/v1/models/{disease}/predict"
                    httpx.post(
                        endpoint, json=body, headers={"Authorization": f"Bearer {token}"}
                    ).raise_for_status()
                    for clients in (1, 32):
                        wrk(endpoint, token, body, clients, 1, script)  # warm-up
                        runs = [
                            wrk(endpoint, token, body, clients, seconds, script)
                            for _ in range(repetitions)
                        ]
                        results.append(
                            {
                                "disease": disease,
                                "mode": "predict+explain" if explain else "predict",
                                "clients": clients,
                                **{
                                    k: round(median([r[k] for r in runs]), 2)
                                    for k in ("p50_ms", "p99_ms", "rps")
                                },
                                "requests": sum(int(r["requests"]) for r in runs),
                            }
                        )
    return repetitions, {"seconds_per_run": seconds, "results": results}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        "| model | request | concurrent clients | p50 (ms) | p99 (ms) | requests/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        lines.append(
            f"| {row['disease']} | {row['mode']} | {row['clients']} | {row['p50_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['rps']:.0f} |"
        )
    lines.append("")
    lines.append(
        f"wrk 4.1 on the same 2-core machine as the server (they share the cores), keep-alive "
        f"connections, {record['seconds_per_run']} s per run after a 1 s warm-up; each figure is "
        "the median over runs. Every request is authenticated, validated, recorded (prediction "
        "row and audit row in SQLite) and, for +explain, explained; any failed request fails the "
        "benchmark. One server process (uvicorn, one worker)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "serving"])
