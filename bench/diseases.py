"""2. The other four diseases: five hospitals from a Dirichlet(0.5) label split, centralised vs
local-only vs federated (FedAvg, secure aggregation), accuracy and AUC over split seeds."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fl_runs import Run, collect, deployed, final, simulate_all, spread, without_federation
from harness import header

DISEASES = ("diabetes", "breast_cancer", "kidney", "parkinsons")
HOSPITALS = "5"


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds, seeds = (1, [0]) if quick else (10, [0, 1, 2, 3, 4])
    diseases = ("diabetes",) if quick else DISEASES
    runs = [Run(d, HOSPITALS, rounds, seed) for d in diseases for seed in seeds]
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="medfed-bench-diseases-") as tmp:
        results = simulate_all(runs, Path(tmp), jobs)
        for run_ in runs:
            row = table.setdefault(run_.disease, {}).setdefault("federated", {})
            collect(row, final(results[run_]))
        for disease in diseases:
            for seed in seeds:
                alone = without_federation(
                    disease, HOSPITALS, rounds, seed, Path(tmp) / f"alone-{disease}-{seed}"
                )
                for name, scores in alone.items():
                    row = table[disease].setdefault(name, {})
                    collect(row, scores)
    local = "10 local steps (SGD, lr 0.05, batches of 32) at every hospital"
    record = {"rounds": rounds, "seeds": seeds, "hospitals": 5, "local": local, "results": table}
    return len(seeds), record


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"Five hospitals per disease from a Dirichlet(0.5) split of the labels of the public "
        f"data less the server's held-out split (seeds "
        f"{', '.join(map(str, record['seeds']))}), each keeping 34 % of its rows for testing. "
        f"Accuracy and AUC on all hospitals' test rows together; local-only is the mean over "
        f"hospitals of each one's own model. Federated: FedAvg, {record['rounds']} rounds of "
        f"{record.get('local', '5 local epochs')}, secure aggregation, real server and nodes, "
        "served model promoted on the hospitals' validation rows and the server's public "
        "held-out split, which no hospital holds (Brier score, one-sided test at 5 %); centralised "
        "and local-only train with the same optimiser for "
        f"{record['rounds'] * 5} epochs. Mean ± sd over seeds.",
        *(_LINE_HEAD if _has_line(record) else _OLD_HEAD),
    ]
    for disease, rows in record["results"].items():
        federated = rows["federated"]
        cells = [spread(rows[k]["combined"]) for k in ("pooled", "local")]
        cells.append(_with_line(federated, "combined", "line_combined"))
        cells += [spread(rows[k]["auc"]) for k in ("pooled", "local")]
        cells.append(_with_line(federated, "auc", "line_auc"))
        cells.append(deployed(rows["federated"], record["rounds"]))
        lines.append(f"| {disease} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _with_line(row: dict[str, list[float]], served: str, line: str) -> str:
    if line not in row:
        return spread(row[served])
    return f"{spread(row[served])} ({spread(row[line])})"


def _has_line(record: dict[str, Any]) -> bool:
    return all("line_combined" in rows["federated"] for rows in record["results"].values())


_LINE_HEAD = (
    "Federated columns are the model doctors are served after the last round (promoted only on "
    "paired evidence, one-sided at 5 %) and, in brackets, the training line's last checkpoint; "
    "the last column counts, per seed, the rounds that advanced the training line and the "
    "rounds promoted.",
    "",
    "| disease | centralised accuracy | local-only accuracy | federated accuracy (line) | centralised AUC | local-only AUC | federated AUC (line) | rounds advancing the line / promoted, per seed |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
)
_OLD_HEAD = (
    "Measured before the training line: each round's candidate was deployed only if it passed "
    "the old validation gate (accuracy may not fall by more than 0.01), and a rejected round's "
    "training was lost; the last column counts the deployed rounds per seed.",
    "",
    "| disease | centralised accuracy | local-only accuracy | federated accuracy | centralised AUC | local-only AUC | federated AUC | rounds deployed, per seed |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
)
