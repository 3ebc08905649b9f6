"""Baseline v1.0 held-out metrics for every outcome, beside the literature references (the
categorical comorbidity model: macro one-vs-rest AUC, Brier summed over its classes)."""

from __future__ import annotations

import statistics
from pathlib import Path

from fl_runs import DATASETS
from harness import header

from medfed.core.catalog import load_catalog
from medfed.ml.baseline import BASELINE_SEED, train_baseline
from medfed.ml.datasets import load_dataset


def run(quick: bool, jobs: int) -> tuple[int, dict[str, object]]:
    repetitions = 1 if quick else 5
    return repetitions, measure(DATASETS, repetitions)


def measure(datasets_dir: Path, repetitions: int) -> dict[str, object]:
    rows = []
    for disease, spec in load_catalog().items():
        data = load_dataset(spec, datasets_dir)
        result = train_baseline(spec, data, BASELINE_SEED)  # the registered v1.0
        card = result.card
        cv = next(
            c
            for c in card["selection"]["candidates"]
            if c["candidate"] == card["selection"]["chosen"]
        )
        seeds = [
            train_baseline(spec, data, BASELINE_SEED + k).card["metrics"]["accuracy"]
            for k in range(1, repetitions)
        ]
        rows.append(
            {
                "disease": disease,
                "architecture": card["architecture"],
                **card["metrics"],
                "ece": card["calibration"]["expected_calibration_error"],
                "cv_primary": cv[f"cv_{spec.primary_metric}"],
                "train_rows": card["rows"]["train"],
                "test_rows": card["rows"]["test"],
                "references": spec.references,
                "split": card["split"],
                "accuracy_other_splits": seeds,
            }
        )
    return {"rows": rows}


def render(record: dict[str, object]) -> str:
    lines = [
        header(record),  # type: ignore[arg-type]
        "",
        "| disease | model | test rows | accuracy | ROC AUC | F1 | Brier | ECE | reference | accuracy over other splits (mean ± sd) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["rows"]:  # type: ignore[attr-defined]
        reference = (
            ", ".join(
                f"{k.replace('roc_auc', 'AUC')} {v:.2f}" for k, v in row["references"].items()
            )
            or "-"
        )
        f1 = f"{row['f1']:.3f}" if "f1" in row else "- (3 classes)"
        others = row["accuracy_other_splits"]
        spread = (
            f"{statistics.mean(others):.3f} ± {statistics.stdev(others):.3f}"
            if len(others) > 1
            else "-"
        )
        lines.append(
            f"| {row['disease']} | {row['architecture']} | {row['test_rows']} | {row['accuracy']:.3f} | "
            f"{row['roc_auc']:.3f} | {f1} | {row['brier']:.3f} | {row['ece']:.3f} | {reference} | {spread} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "baselines"])
