"""Federated runs for the accuracy benchmarks: `medfed simulate` (real server and node processes
over HTTP) and, beside it, the same local training run without federation (local-only, pooled).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from harness import ROOT

from medfed.core.catalog import get_disease, use_spec_folder
from medfed.core.config import PACKAGED_DATASETS_DIR
from medfed.ml import metrics
from medfed.ml.baseline import train_baseline, untrained
from medfed.ml.datasets import load_dataset
from medfed.ml.model import DiseaseModel
from medfed.ml.private_train import LocalTrainingConfig, train_locally
from medfed.simulation.hospitals import (
    Hospital,
    HospitalPlan,
    build_hospitals,
    public_holdout_default,
    score,
)

SPECS = ROOT / "bench" / "specs"
DATASETS = Path(os.environ.get("MEDFED_DATASETS_DIR", PACKAGED_DATASETS_DIR))
LOCAL_STEPS, BATCH, LEARNING_RATE = 10, 32, 0.05  # what `medfed simulate` asks every node for
LOCAL_EPOCHS = 5  # per round, for pooled and local-only training (a generous budget: see README)


@dataclass(frozen=True)
class Run:
    disease: str
    hospitals: str  # "natural" or a number
    rounds: int
    seed: int
    strategy: str = "fedavg"
    secure: bool = True
    epsilon: float | None = None
    options: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        eps = "inf" if self.epsilon is None else f"{self.epsilon:g}"
        mode = "secure" if self.secure else "plain"
        extra = "".join(f"-{option.strip('-')}" for option in self.options)
        return (
            f"{self.disease}-{self.hospitals}-{self.strategy}-{mode}-eps{eps}{extra}-s{self.seed}"
        )


def simulate(run: Run, folder: Path) -> dict[str, Any]:
    """One `medfed simulate` process; its JSON result, or the reason it failed."""
    output = folder / f"{run.name}.json"
    command = [
        sys.executable,
        "-m",
        "medfed",
        "simulate",
        "--disease",
        run.disease,
        "--hospitals",
        run.hospitals,
        "--rounds",
        str(run.rounds),
        "--seed",
        str(run.seed),
        "--strategy",
        run.strategy,
        "--workdir",
        str(folder / run.name),
        "--output",
        str(output),
        *([] if run.secure else ["--plain"]),
        *([] if run.epsilon is None else ["--epsilon", str(run.epsilon)]),
        *run.options,
    ]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")},
        "MEDFED_DATASETS_DIR": str(DATASETS),
        "MEDFED_DISEASE_SPECS_DIR": str(SPECS),
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{run.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(output.read_text())
    return result


def simulate_all(runs: list[Run], folder: Path, jobs: int) -> dict[Run, dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda r: simulate(r, folder), runs))
    return dict(zip(runs, results, strict=True))


def final(result: dict[str, Any]) -> dict[str, float]:
    """After the last round: the scores of the model doctors are served, of the training line's
    newest checkpoint, and how many rounds advanced the line and were promoted."""
    last = result["rounds"][-1]
    return {
        "mean_site": last["mean_site_accuracy"],
        "combined": last["combined_accuracy"],
        "auc": last["combined_auc"],
        "line_mean_site": last.get("line_mean_site_accuracy", last["mean_site_accuracy"]),
        "line_combined": last.get("line_combined_accuracy", last["combined_accuracy"]),
        "line_auc": last.get("line_combined_auc", last["combined_auc"]),
        "deployed": result["deployed"],
        "advanced": result.get("advanced", result["deployed"]),
        "seconds_per_round": statistics.median(r["seconds"] for r in result["rounds"]),
    }


# Without federation ------------------------------------------------------------------------


def start_model(disease: str) -> DiseaseModel:
    """The same untrained v1.0 the simulation's server registers (preprocessing + fresh weights)."""
    use_spec_folder(SPECS)
    spec = get_disease(disease)
    data = load_dataset(spec, DATASETS)
    return untrained(train_baseline(spec, data), data).model


def _train(model: DiseaseModel, hospitals: list[Hospital], epochs: int, seed: int) -> np.ndarray:
    rows = [row for h in hospitals for row in h.train.rows]
    labels = np.concatenate([h.train.labels for h in hospitals])
    config = LocalTrainingConfig(
        epochs=epochs,
        batch_size=BATCH,
        learning_rate=LEARNING_RATE,
        target_epsilon=None,
        seed=seed,
    )
    inputs = model.preprocessor.transform(rows)
    return train_locally(model.architecture, inputs, labels, model.parameters, config).parameters


def without_federation(
    disease: str, hospitals: str, rounds: int, seed: int, folder: Path
) -> dict[str, dict[str, float]]:
    """Local-only (each hospital alone) and pooled (all training rows in one place), trained with
    the nodes' own optimiser and settings for as many epochs as the federation's rounds give."""
    use_spec_folder(SPECS)
    spec = get_disease(disease)
    folder.mkdir(parents=True, exist_ok=True)
    plan = HospitalPlan(
        DATASETS, folder, hospitals, seed=seed, public_holdout=public_holdout_default(hospitals)
    )
    sites = build_hospitals(plan, spec)
    start = start_model(disease)
    epochs = rounds * LOCAL_EPOCHS
    pooled = start.with_parameters(_train(start, sites, epochs, seed))
    _, mean_site, combined, auc = score(pooled, sites)
    results = {"pooled": {"mean_site": mean_site, "combined": combined, "auc": auc}}
    # Nodes keep a random 20 % of their rows for validation (the promotion evidence) and train
    # on the rest: pooled training on such an 80 % shows what that costs, apart from federation.
    rng = np.random.default_rng(seed + 7919)
    kept = [
        replace(site, train=site.train.subset(np.flatnonzero(rng.random(len(site.train)) >= 0.2)))
        for site in sites
    ]
    pooled_80 = start.with_parameters(_train(start, kept, epochs, seed))
    _, mean_site, combined, auc = score(pooled_80, sites)
    results["pooled_80"] = {"mean_site": mean_site, "combined": combined, "auc": auc}
    own, combined_scores, aucs = [], [], []
    test_rows = [row for h in sites for row in h.test.rows]
    test_labels = np.concatenate([h.test.labels for h in sites])
    for index, site in enumerate(sites):
        if len(set(site.train.labels.tolist())) < 2:
            continue  # one class only: this hospital cannot train a classifier alone
        model = start.with_parameters(_train(start, [site], epochs, seed + index))
        own.append(metrics.accuracy(site.test.labels, model.predict_proba(site.test.rows)))
        everyone = model.predict_proba(test_rows)
        combined_scores.append(metrics.accuracy(test_labels, everyone))
        aucs.append(metrics.roc_auc(test_labels, everyone))
    results["local"] = {
        # each hospital's own model on its own test rows, and on every hospital's test rows
        "mean_site": float(np.mean(own)),
        "combined": float(np.mean(combined_scores)),
        "auc": float(np.mean(aucs)),
        "hospitals_trained": float(len(own)),
    }
    return results


def collect(row: dict[str, list[float]], scores: dict[str, float]) -> None:
    """Append one run's scores to a table row of lists (one list per score)."""
    for key, value in scores.items():
        row.setdefault(key, []).append(value)


def deployed(row: dict[str, Any], rounds: int) -> str:
    """Seed by seed: rounds that advanced the training line, and rounds promoted to doctors."""
    promoted = row.get("deployed")
    if not promoted:
        return "-"
    advanced = row.get("advanced")
    if not advanced:  # measured before the training line: rounds the old gate deployed
        return ", ".join(str(int(c)) for c in promoted) + f" of {rounds}"
    return (
        ", ".join(str(int(c)) for c in advanced)
        + f" of {rounds} / "
        + ", ".join(str(int(c)) for c in promoted)
    )


def spread(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"
