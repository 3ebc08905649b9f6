from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medfed.ml import metrics


def brute_force_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives, negatives = scores[labels == 1], scores[labels == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=2, max_size=40))
def test_auc_equals_pairwise_definition_with_ties(pairs: list[tuple[int, int]]) -> None:
    labels = np.asarray([p[0] for p in pairs])
    scores = np.asarray([p[1] / 5 for p in pairs], dtype=float)
    if labels.min() == labels.max():
        assert np.isnan(metrics.roc_auc(labels, scores))
    else:
        assert abs(metrics.roc_auc(labels, scores) - brute_force_auc(labels, scores)) < 1e-12


def test_simple_metrics() -> None:
    labels = np.asarray([1, 0, 1, 0])
    probabilities = np.asarray([0.9, 0.2, 0.4, 0.6])
    assert metrics.accuracy(labels, probabilities) == 0.5
    assert metrics.f1(labels, probabilities) == 0.5
    assert abs(metrics.brier(labels, probabilities) - (0.01 + 0.04 + 0.36 + 0.36) / 4) < 1e-12


def test_perfectly_calibrated_bins_have_zero_error() -> None:
    probabilities = np.asarray([0.25] * 4 + [0.75] * 4)
    labels = np.asarray([1, 0, 0, 0, 1, 1, 1, 0])
    result = metrics.calibration(labels, probabilities)
    assert result["expected_calibration_error"] == 0.0


def test_categorical_metrics_count_each_class() -> None:
    labels = np.asarray([0, 0, 1, 1, 2, 2])
    probabilities = np.asarray(
        [
            [0.8, 0.1, 0.1],
            [0.4, 0.5, 0.1],  # a low-risk row called medium
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.2, 0.7],
            [0.1, 0.1, 0.8],
        ]
    )
    result = metrics.summary(labels, probabilities)
    assert result["accuracy"] == round(5 / 6, 4)
    assert result["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    assert result["recall_per_class"] == [0.5, 1.0, 1.0]
    assert result["per_class_rows"] == [2, 2, 2]
    assert 0.9 < result["roc_auc"] <= 1.0
    perfect = np.eye(3)[labels]
    assert metrics.multiclass_brier(labels, perfect) == 0.0
    assert metrics.multiclass_brier(labels, np.full((6, 3), 1 / 3)) == pytest.approx(2 / 3)


def test_reliability_pools_the_classes_one_vs_rest() -> None:
    labels = np.asarray([0, 1, 2, 2])
    table = metrics.reliability(labels, np.eye(3)[labels])
    assert table["expected_calibration_error"] == 0.0
    assert sum(b["count"] for b in table["bins"]) == 12  # four rows, three classes each
    assert metrics.reliability(np.asarray([0, 1]), np.asarray([0.2, 0.8]))["bins"]
