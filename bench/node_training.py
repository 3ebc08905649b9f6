"""Local training at scale: one epoch of DP-SGD over a large synthetic CSV at a real node.

Peak memory is the node process's own high-water resident set size (VmHWM), read from /proc while
it runs; comparing a small and a large file shows whether memory stays flat as the file grows.
Not ru_maxrss from wait4: Linux carries the parent's high-water mark into a (v)forked child across
exec, so that figure was the benchmark harness's own peak (a flat 682 MiB), not the node's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from fl_runs import DATASETS
from harness import header, medfed, running_server

PEAK_POLL_SECONDS = 0.05
HEADER = "pregnancies,glucose,blood_pressure,skin_thickness,insulin,bmi,pedigree,age,outcome"


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Plausible synthetic patients; the outcome depends on glucose, BMI and age."""
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write(HEADER + "\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            glucose = np.clip(rng.normal(120, 30, n), 40, 390).round()
            bmi = np.clip(rng.normal(32, 7, n), 15, 70).round(1)
            age = rng.integers(21, 81, n)
            logit = 0.04 * (glucose - 120) + 0.08 * (bmi - 32) + 0.03 * (age - 40) - 0.6
            outcome = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
            columns = [
                rng.integers(0, 12, n),
                glucose,
                np.clip(rng.normal(72, 12, n), 30, 140).round(),
                np.clip(rng.normal(29, 10, n), 5, 95).round(),
                np.clip(rng.normal(150, 90, n), 15, 850).round(),
                bmi,
                rng.uniform(0.08, 2.4, n).round(3),
                age,
                outcome,
            ]
            lines = "\n".join(",".join(str(v) for v in row) for row in zip(*columns, strict=True))
            handle.write(lines + "\n")


def _high_water_kib(pid: int) -> int:
    """The process's peak resident set size so far (0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def train_once(env: dict[str, str], path: Path, batch_size: int) -> dict[str, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medfed",
            "node",
            "train",
            str(path),
            "--disease",
            "diabetes",
            "--epochs",
            "1",
            "--batch-size",
            str(batch_size),
            "--epsilon",
            "1.0",
        ],
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, _high_water_kib(process.pid))
        reaped, status = os.waitpid(process.pid, os.WNOHANG)
        if reaped:
            break
        time.sleep(PEAK_POLL_SECONDS)
    wall = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"node train failed:\n{output}\n{process.stderr.read() if process.stderr else ''}"
        )
    job_line = next(line for line in output.splitlines() if line.startswith("Job "))
    job_id = job_line.split()[1].rstrip(":")
    jobs = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import json,sys; from medfed.node.state import NodeState; from pathlib import Path;"
                f"print(json.dumps(NodeState(Path({str(env['MEDFED_NODE_HOME'])!r})).job({job_id!r}).result))"
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(jobs.stdout)
    return {
        "wall_s": wall,
        "peak_rss_mib": peak_kib / 1024,
        "reading_s": result["seconds"]["reading"],
        "training_s": result["seconds"]["training"],
        "rows": result["intake"]["valid_rows"],
        "train_rows": result["rows_train"],
        "epsilon": result["epsilon"],
    }


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    sizes = [20_000] if quick else [100_000, 1_000_000]
    repetitions = 1 if quick else 5
    batch_size = 256
    results = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")}
        env.update(
            MEDFED_HOME=str(root / "server"),
            MEDFED_NODE_HOME=str(root / "node"),
            MEDFED_DATASETS_DIR=str(DATASETS),
            MEDFED_LOG_LEVEL="WARNING",
            MEDFED_POLICY_EPSILON_CAP="1000",
        )
        medfed("models", "baselines", "--disease", "diabetes", env=env)
        token = (
            medfed("admin", "create-hospital", "Benchmark Hospital", env=env)
            .strip()
            .splitlines()[-1]
        )
        with running_server({**env, "MEDFED_TRAIN_BASELINES": "false"}) as url:
            medfed("node", "enroll", "--server", url, "--token", token, env=env)
            for rows in sizes:
                path = root / f"patients-{rows}.csv"
                write_csv(path, rows)
                runs = sorted(
                    (train_once(env, path, batch_size) for _ in range(repetitions)),
                    key=lambda r: r["wall_s"],
                )
                middle = runs[len(runs) // 2]
                results.append(
                    {
                        "rows": rows,
                        "file_mib": round(path.stat().st_size / 2**20, 1),
                        "rows_per_s": round(rows / middle["wall_s"]),
                        "training_rows_per_s": round(
                            statistics.median(r["train_rows"] / r["training_s"] for r in runs)
                        ),
                        "peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in runs)),
                        **{k: round(v, 2) for k, v in middle.items()},
                    }
                )
                path.unlink()
    return repetitions, {"batch_size": batch_size, "epochs": 1, "epsilon": 1.0, "results": results}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        "| rows in the CSV | file | whole job (s) | rows/s, whole job | reading + checking (s) | DP-SGD epoch (s) | training rows/s | peak memory (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in record["results"]:
        lines.append(
            f"| {r['rows']:,} | {r['file_mib']} MiB | {r['wall_s']:.1f} | {r['rows_per_s']:,} | {r['reading_s']:.1f} | "
            f"{r['training_s']:.1f} | {r['training_rows_per_s']:,} | {r['peak_rss_mib']:.0f} |"
        )
    lines.append("")
    lines.append(
        "`medfed node train FILE --disease diabetes --epochs 1 --batch-size 256 --epsilon 1.0` as a separate "
        "process against a real server; the whole job includes start-up, downloading the model, validating "
        "every cell, the identifier scan, the train/validation split and evaluation. The run with the median "
        "wall time is shown; peak memory is that run's node process's high-water resident set size (VmHWM, "
        "read from /proc every 50 ms)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "node-training"])
