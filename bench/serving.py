"""Predict and predict+explain latency over HTTP on loopback, one client, against a real server."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx
from harness import ROOT, header, medfed, median, percentile, running_server, save, update_readme

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


def measure(client: httpx.Client, disease: str, explain: bool, requests: int) -> list[float]:
    body = {"patient": PATIENTS[disease], "explain": explain}
    for _ in range(10):  # warm-up: model load and connection
        client.post(f"/api/v1/models/{disease}/predict", json=body).raise_for_status()
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.post(f"/api/v1/models/{disease}/predict", json=body)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a short run that only tests the harness"
    )
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    repetitions, requests = (2, 20) if args.quick else (5, 300)
    results = []
    with (
        tempfile.TemporaryDirectory() as home,
        running_server(server_env(Path(home), args.datasets)) as url,
    ):
        token = httpx.post(
            f"{url}/api/v1/auth/token", json={"username": "bench-doctor", "password": PASSWORD}
        ).json()["access_token"]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            for disease in PATIENTS:
                for explain in (False, True):
                    runs = [measure(client, disease, explain, requests) for _ in range(repetitions)]
                    results.append(
                        {
                            "disease": disease,
                            "mode": "predict+explain" if explain else "predict",
                            "p50_ms": round(median([percentile(r, 50) for r in runs]), 2),
                            "p99_ms": round(median([percentile(r, 99) for r in runs]), 2),
                            "requests_per_run": requests,
                        }
                    )
    command = "python bench/serving.py" + (" --quick" if args.quick else "")
    record = save(
        "serving" + ("-quick" if args.quick else ""), command, repetitions, {"results": results}
    )
    lines = [
        header(record),
        "",
        "| model | request | p50 (ms) | p99 (ms) | target p99 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in results:
        lines.append(
            f"| {row['disease']} | {row['mode']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | ≤ 50 ms |"
        )
    lines.append("")
    lines.append(
        f"One client, keep-alive, {requests} requests per run after 10 warm-up requests; each figure is the "
        "median over runs of that run's percentile. Every request is authenticated, validated, "
        "recorded (prediction row and audit row) and, for +explain, explained."
    )
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_readme and not args.quick:
        update_readme("serving", markdown)


if __name__ == "__main__":
    main()
