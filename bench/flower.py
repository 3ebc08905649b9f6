"""8. Beside Flower: the same FedAvg on FLamby's heart sites (same inputs, split, start, local
training and rounds) run with Flower's simulation engine, installed by the harness into its own
virtual environment (never a MedFed dependency), against MedFed's real server and nodes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fl_runs import DATASETS, Run, collect, deployed, final, simulate, spread, start_model
from harness import ROOT, header

from medfed.core.catalog import get_disease
from medfed.simulation.hospitals import HospitalPlan, build_hospitals

FLOWER = "flwr[simulation]==1.18.0"
VENV = Path(os.environ.get("MEDFED_BENCH_CACHE", Path.home() / ".cache" / "medfed-bench"))
VENV = VENV / "flower-1.18.0"
DISEASE = "heart_flamby"
# Flower's clients (flower_app.py) train 5 local epochs a round; MedFed's nodes do the same here
# instead of the simulation's default 10 optimiser steps.
SAME_TRAINING = ("--steps", "0", "--epochs", "5")


def flower_python() -> tuple[Path | None, str]:
    """The Flower venv's interpreter, installing it the first time; or None and why not."""
    python = VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run([str(python), "-c", "import flwr, ray"], capture_output=True)
        if check.returncode == 0:
            return python, ""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", FLOWER, "numpy"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"could not install {FLOWER}: {(done.stderr or done.stdout)[-400:]}"
    return python, ""


def write_inputs(seed: int, rounds: int, path: Path) -> None:
    """MedFed's model inputs for each site's split (as its nodes see them) and the start."""
    start = start_model(DISEASE)
    sites = build_hospitals(
        HospitalPlan(DATASETS, path.parent, "natural", seed=seed), get_disease(DISEASE)
    )
    arrays: dict[str, np.ndarray] = {
        "sites": np.asarray(len(sites)),
        "rounds": np.asarray(rounds),
        "initial": start.parameters,
    }
    for index, site in enumerate(sites):
        arrays[f"x_train_{index}"] = start.preprocessor.transform(site.train.rows)
        arrays[f"y_train_{index}"] = site.train.labels.astype(np.float64)
        arrays[f"x_test_{index}"] = start.preprocessor.transform(site.test.rows)
        arrays[f"y_test_{index}"] = site.test.labels.astype(np.float64)
    np.savez(path, **arrays)  # type: ignore[arg-type]


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds, seeds = (1, [0]) if quick else (15, [0, 1, 2, 3, 4])
    python, why = flower_python()
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="medfed-bench-flower-") as tmp:
        folder = Path(tmp)
        for seed in seeds:
            # One at a time: these runs are timed. A quick run (CI) times the secure one only.
            for secure in (True,) if quick else (True, False):
                spec = Run(DISEASE, "natural", rounds, seed, secure=secure, options=SAME_TRAINING)
                result = final(simulate(spec, folder))
                row = rows.setdefault("medfed-secure" if secure else "medfed-plain", {})
                collect(row, result)
            if python is None:
                continue
            inputs, output = folder / f"inputs-{seed}.npz", folder / f"flower-{seed}.json"
            write_inputs(seed, rounds, inputs)
            done = subprocess.run(
                [str(python), str(ROOT / "bench" / "flower_app.py"), str(inputs), str(output)],
                capture_output=True,
                text=True,
                env={**os.environ, "RAY_DEDUP_LOGS": "0", "RAY_USAGE_STATS_ENABLED": "0"},
            )
            if done.returncode != 0:
                raise RuntimeError(f"Flower run failed:\n{done.stderr[-3000:]}")
            collect(rows.setdefault("flower", {}), json.loads(output.read_text()))
    return len(seeds), {
        "rounds": rounds,
        "seeds": seeds,
        "flower": FLOWER,
        "skipped": why or None,
        "results": rows,
    }


def render(record: dict[str, Any]) -> str:
    rows = record["results"]
    lines = [header(record), ""]
    if record.get("skipped"):
        lines += [f"Flower was not run: {record['skipped']}", ""]
    lines += [
        f"FedAvg, {record['rounds']} rounds of 5 local epochs (SGD, lr 0.05, batches of 32, no "
        f"DP) on FLamby's four heart sites, seeds {', '.join(map(str, record['seeds']))}. Both "
        "start from the same untrained weights and train on the same model inputs. Flower "
        f"({record['flower']}) runs its in-process simulation engine (Ray actors, no network, "
        "clients hold arrays in memory); MedFed runs a real server and four node processes over "
        "HTTP, each node reading and validating its CSV every round. Seconds per round: median "
        "over rounds, then over seeds; MedFed's includes its federated evaluation and promotion "
        "decision (every round advances the training line; doctors are served a candidate "
        "only on paired evidence, as in table 1; Flower has neither). Accuracies are the "
        "served model's after the last round; the last column counts, per seed, the rounds "
        "that advanced the training line and, after the slash, the rounds promoted.",
        "",
        "| system | mean per-site accuracy | combined accuracy | seconds per round | rounds deployed, per seed |",
        "| --- | --- | --- | --- | --- |",
    ]
    labels = {
        "flower": "Flower simulation, FedAvg",
        "medfed-plain": "MedFed, FedAvg, plain aggregation",
        "medfed-secure": "MedFed, FedAvg, secure aggregation",
    }
    for key, label in labels.items():
        if key in rows:
            row = rows[key]
            seconds = statistics.median(row["seconds_per_round"])
            lines.append(
                f"| {label} | {spread(row['mean_site'])} | {spread(row['combined'])} | "
                f"{seconds:.2f} | {deployed(row, record['rounds'])} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "flower"])
