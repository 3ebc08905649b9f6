"""The server's held-out rows: evidence for the promotion rule, or (when turned off, as in a
simulation whose hospitals hold the same public rows) metrics that are shown but never decide."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medfed.core.catalog import get_disease
from medfed.ml.baseline import train_baseline
from medfed.ml.datasets import load_dataset
from medfed.server.services.holdout import HoldoutData, evidence_from


def _pair(datasets_dir: Path) -> tuple[object, object]:
    spec = get_disease("breast_cancer")
    served = train_baseline(spec, load_dataset(spec, datasets_dir)).model
    rng = np.random.default_rng(0)
    candidate = served.with_parameters(
        served.parameters + rng.normal(0, 0.3, served.parameters.shape)
    )
    return served, candidate


def test_held_out_rows_are_paired_evidence_by_default(datasets_dir: Path) -> None:
    served, candidate = _pair(datasets_dir)
    comparison = HoldoutData(datasets_dir).compare(served, candidate)  # type: ignore[arg-type]
    assert comparison is not None and comparison["auc"] is not None
    evidence = evidence_from(comparison, [])
    rows = comparison["served"]["rows"]
    assert evidence.server_rows == rows == evidence.accuracy.n and evidence.auc is not None


def test_turned_off_they_are_shown_but_weigh_nothing(datasets_dir: Path) -> None:
    served, candidate = _pair(datasets_dir)
    holdout = HoldoutData(datasets_dir, evidence=False)
    comparison = holdout.compare(served, candidate)  # type: ignore[arg-type]
    assert comparison is not None and comparison["candidate"]["rows"] > 0
    assert "paired" not in comparison and comparison["auc"] is None
    evidence = evidence_from(comparison, [])
    assert evidence.server_rows == 0 and evidence.accuracy.n == 0 and evidence.auc is None
