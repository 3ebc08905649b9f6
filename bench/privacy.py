"""3. Privacy cost: accuracy at a total epsilon per hospital of infinity (no DP), 10, 3 and 1
(delta at most 1e-5), for heart on its natural sites and diabetes over five hospitals."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fl_runs import Run, collect, deployed, final, simulate_all, spread
from harness import header

from medfed.fl.privacy import DP_LEARNING_RATE, LEARNING_RATE

SETUPS = (("heart_flamby", "natural"), ("diabetes", "5"))
EPSILONS: tuple[float | None, ...] = (None, 10.0, 3.0, 1.0)


def _key(epsilon: float | None) -> str:
    return "inf" if epsilon is None else f"{epsilon:g}"


COMPOSITION = {  # how the runs spent each hospital's total epsilon over the rounds
    "basic": "Each hospital's total epsilon is split evenly over the rounds (DP-SGD through "
    "Opacus, RDP accountant, delta = min(1e-5, 1/(10 n))); adding per-round epsilons overstates "
    "the true total, so the privacy is at least as strong as the column says.",
    "renyi": "Each hospital's total epsilon covers the whole campaign: every node sets its noise "
    "so that the campaign's rounds compose to it under Rényi DP and charges its ledger each "
    "round's increase of the composed total (DP-SGD through Opacus, delta = min(1e-5, "
    "1/(10 n))); the ledgers' totals are at most the column's epsilon.",
}
COLUMNS = tuple(_key(epsilon) for epsilon in EPSILONS)  # the table's columns, in order
TABLE_HEAD = (
    "| data | "
    + " | ".join("ε = ∞ (no DP)" if e is None else f"ε = {e:g}" for e in EPSILONS)
    + " |",
    "| --- |" + " --- |" * len(EPSILONS),
)


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds, seeds = (1, [0]) if quick else (10, [0, 1, 2])
    setups = SETUPS[:1] if quick else SETUPS
    epsilons = (3.0,) if quick else EPSILONS  # quick: the DP path; no DP runs in every section
    runs = [
        Run(disease, hospitals, rounds, seed, epsilon=eps)
        for disease, hospitals in setups
        for eps in epsilons
        for seed in seeds
    ]
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="medfed-bench-privacy-") as tmp:
        results = simulate_all(runs, Path(tmp), jobs)
    for run_ in runs:
        key = _key(run_.epsilon)
        row = table.setdefault(run_.disease, {}).setdefault(key, {})
        collect(row, final(results[run_]))
    return len(seeds), {
        "rounds": rounds,
        "seeds": seeds,
        "composition": "renyi",
        "learning_rate": {"no_dp": LEARNING_RATE, "dp": DP_LEARNING_RATE},
        "results": table,
    }


def _local(record: dict[str, Any]) -> str:
    rates = record.get("learning_rate")
    if not rates:  # measured when every run used 0.05
        return ""
    return (
        f" Nodes take 10 SGD steps a round with lr {rates['no_dp']:g}, and {rates['dp']:g} "
        "for an MLP under DP-SGD (each model's default: an MLP's clipped gradients are much "
        "shorter than its own; diabetes is an MLP, heart a logistic model)."
    )


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"FedAvg with secure aggregation, {record['rounds']} rounds from an untrained start, "
        f"seeds {', '.join(map(str, record['seeds']))}. {COMPOSITION[record.get('composition', 'basic')]}"
        f"{_local(record)}"
        " Heart: FLamby's four sites; diabetes: five "
        "hospitals from a Dirichlet(0.5) split. Combined test accuracy (AUC) of the model "
        "doctors are served after the last round, then the training line's last checkpoint's "
        "combined accuracy; mean ± sd.",
        "",
        *TABLE_HEAD,
    ]
    for disease, rows in record["results"].items():
        cells = []
        for key in COLUMNS:
            row = rows.get(key)
            line = (
                f"; line {spread(row['line_combined'])}" if row and "line_combined" in row else ""
            )
            cells.append(
                f"{spread(row['combined'])} ({spread(row['auc'], 2)}){line}" if row else "not run"
            )
        lines.append(f"| {disease} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Rounds that advanced the training line / rounds promoted to doctors, per seed:",
        "",
        *TABLE_HEAD,
    ]
    for disease, rows in record["results"].items():
        cells = [deployed(rows[k], record["rounds"]) if k in rows else "-" for k in COLUMNS]
        lines.append(f"| {disease} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
