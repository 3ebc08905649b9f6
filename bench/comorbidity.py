"""2b. The comorbidity risk model (three classes, synthetic cohort): its three simulated
hospitals as they are, centralised vs local-only vs federated (FedAvg, secure aggregation)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fl_runs import Run, collect, deployed, final, simulate_all, spread, without_federation
from harness import header

DISEASE = "comorbidity_risk"


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds, seeds = (1, [0]) if quick else (10, [0, 1, 2])
    runs = [Run(DISEASE, "natural", rounds, seed) for seed in seeds]
    table: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="medfed-bench-comorbidity-") as tmp:
        results = simulate_all(runs, Path(tmp), jobs)
        for run_ in runs:
            collect(table.setdefault("federated", {}), final(results[run_]))
            alone = without_federation(
                DISEASE, "natural", rounds, run_.seed, Path(tmp) / f"alone-{run_.seed}"
            )
            for name, scores in alone.items():
                collect(table.setdefault(name, {}), scores)
    local = "10 local steps (SGD, lr 0.05, batches of 32) at every hospital"
    return len(seeds), {"rounds": rounds, "seeds": seeds, "local": local, "results": table}


def render(record: dict[str, Any]) -> str:
    rows, rounds = record["results"], record["rounds"]
    federated = rows["federated"]
    lines = [
        header(record),
        "",
        "The synthetic cohort's three hospitals (district 1,200 admissions, tertiary 900, "
        "elderly care 700; different ages, case mix and tier shares), each keeping 34 % of its "
        f"rows for testing (split seeds {', '.join(map(str, record['seeds']))}). Accuracy of the "
        "likeliest class and macro one-vs-rest AUC on all hospitals' test rows together; "
        "local-only is each hospital's own model (mean over hospitals, on every hospital's test "
        f"rows). Federated: FedAvg, {rounds} rounds of {record['local']}, secure aggregation, "
        "real server and nodes, from an untrained start; served model promoted on paired "
        "evidence from the hospitals' validation rows (Brier score, one-sided at 5 %), the "
        "training line's last checkpoint in brackets. Centralised and local-only train with the "
        f"same optimiser for {rounds * 5} epochs. Mean ± sd over seeds.",
        "",
        "| training | mean per-hospital accuracy | combined accuracy | macro AUC |",
        "| --- | --- | --- | --- |",
    ]
    for name, label in (("pooled", "centralised (all rows pooled)"), ("local", "local only")):
        row = rows[name]
        lines.append(
            f"| {label} | {spread(row['mean_site'])} | {spread(row['combined'])} | "
            f"{spread(row['auc'])} |"
        )
    lines.append(
        f"| federated, served ({deployed(federated, rounds)} rounds advanced / promoted) | "
        f"{spread(federated['mean_site'])} ({spread(federated['line_mean_site'])}) | "
        f"{spread(federated['combined'])} ({spread(federated['line_combined'])}) | "
        f"{spread(federated['auc'])} ({spread(federated['line_auc'])}) |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "comorbidity"])
