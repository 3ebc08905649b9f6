"""Promotion by evidence: paired sums that pool across sites, DeLong for AUC, and a rule that
never replaces the served model with one that is worse or better only by noise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medfed.fl.promotion import (
    Evidence,
    PairedSums,
    compare_auc,
    decide,
    paired_sums,
    sums_of,
)
from medfed.ml.metrics import roc_auc


def _data(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.45).astype(int)
    served = np.clip(0.5 + (labels - 0.5) * rng.uniform(-0.3, 0.9, rows), 0.01, 0.99)
    return labels, served


def _evidence(labels: np.ndarray, served: np.ndarray, candidate: np.ndarray) -> Evidence:
    sums = paired_sums(labels, served, candidate)
    return Evidence(
        sums["accuracy"],
        sums["brier"],
        compare_auc(labels, served, candidate),
        server_rows=len(labels),
    )


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=60), st.integers(0, 60))
def test_sums_from_sites_add_up_to_the_sums_of_all_rows(values: list[float], cut: int) -> None:
    whole = np.asarray(values)
    pooled = sums_of(whole[:cut]) + sums_of(whole[cut:])
    assert pooled.n == whole.size
    assert pooled.total == pytest.approx(whole.sum(), abs=1e-9)
    assert pooled.squares == pytest.approx(np.square(whole).sum(), abs=1e-9)


def test_accuracy_sums_are_mcnemars_discordant_counts() -> None:
    labels = np.array([1, 1, 0, 0, 1])
    served = np.array([0.9, 0.2, 0.1, 0.8, 0.3])  # right, wrong, right, wrong, wrong
    candidate = np.array([0.9, 0.7, 0.6, 0.2, 0.4])  # right, right, wrong, right, wrong
    accuracy = paired_sums(labels, served, candidate)["accuracy"]
    # candidate-only right: rows 2 and 4 (b = 2); served-only right: row 3 (c = 1)
    assert (accuracy.n, accuracy.total, accuracy.squares) == (5, 1.0, 3.0)


def test_sums_a_site_sends_are_checked() -> None:
    assert PairedSums.from_dict({"n": 3, "total": 1.0, "squares": 1.0}) == PairedSums(3, 1.0, 1.0)
    with pytest.raises(ValueError, match="inconsistent"):
        PairedSums.from_dict({"n": 2, "total": 5.0, "squares": 1.0})
    with pytest.raises(ValueError):
        PairedSums.from_dict({"n": -1, "total": 0.0, "squares": 0.0})


def test_delong_matches_the_aucs_and_a_bootstrap_of_their_difference() -> None:
    labels, served = _data(3, 300)
    rng = np.random.default_rng(4)
    candidate = np.clip(served + rng.normal(0, 0.15, served.size), 0.01, 0.99)
    comparison = compare_auc(labels, served, candidate)
    assert comparison.served == pytest.approx(roc_auc(labels, served))
    assert comparison.candidate == pytest.approx(roc_auc(labels, candidate))
    replicates = []
    for _ in range(400):
        pick = rng.integers(0, labels.size, labels.size)
        replicates.append(
            roc_auc(labels[pick], candidate[pick]) - roc_auc(labels[pick], served[pick])
        )
    assert comparison.standard_error == pytest.approx(np.std(replicates), rel=0.25)
    same = compare_auc(labels, served, served)
    assert same.difference == 0 and same.standard_error == pytest.approx(0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(30, 400), st.floats(0.01, 0.4))
def test_a_candidate_worse_by_construction_is_never_promoted(
    seed: int, rows: int, push: float
) -> None:
    labels, served = _data(seed, rows)
    if labels.min() == labels.max() or min(labels.sum(), rows - labels.sum()) < 2:
        return
    # Every row moves towards the wrong answer: no row can become more correct or less wrong.
    candidate = np.clip(served - push * (2 * labels - 1), 0.0, 1.0)
    evidence = _evidence(labels, served, candidate)
    for measure in ("accuracy", "brier", "roc_auc"):
        decision = decide(evidence, measure)
        assert not decision.promote, decision.reason


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(30, 60), st.integers(1, 2))
def test_a_gain_smaller_than_the_noise_of_a_tiny_validation_set_is_not_promoted(
    seed: int, rows: int, fixed: int
) -> None:
    labels, served = _data(seed, rows)
    wrong = np.flatnonzero((served >= 0.5) != (labels == 1))
    if wrong.size < fixed:
        return
    candidate = served.copy()
    candidate[wrong[:fixed]] = labels[wrong[:fixed]]  # one or two rows turned from wrong to right
    evidence = Evidence(**{k: v for k, v in paired_sums(labels, served, candidate).items()})
    assert evidence.accuracy.mean > 0
    assert not decide(evidence, "accuracy").promote
    assert not decide(evidence, "brier").promote


def test_a_clearly_better_candidate_is_promoted_and_the_reason_gives_the_numbers() -> None:
    labels, served = _data(7, 600)
    candidate = np.clip(served + 0.15 * (2 * labels - 1), 0.01, 0.99)
    hospital = paired_sums(labels[:400], served[:400], candidate[:400])
    held_out = paired_sums(labels[400:], served[400:], candidate[400:])
    evidence = Evidence(
        hospital["accuracy"] + held_out["accuracy"],
        hospital["brier"] + held_out["brier"],
        compare_auc(labels[400:], served[400:], candidate[400:]),
        server_rows=200,
        hospitals=4,
    )
    decision = decide(evidence, "accuracy")
    assert decision.promote
    assert decision.reason.startswith("promoted, better: accuracy +")
    assert (
        "90 % CI [+" in decision.reason
        and "400 rows at 4 hospitals + 200 held-out" in decision.reason
    )
    assert decide(evidence, "roc_auc").promote
    assert "200 held-out rows" in decide(evidence, "roc_auc").reason


def test_no_worse_on_the_measure_but_better_calibrated_is_promoted() -> None:
    labels, served = _data(11, 800)
    # Same answers on every row (accuracy unchanged); right answers made more confident.
    right = (served >= 0.5) == (labels == 1)
    candidate = served + 0.3 * (labels - served) * right
    decision = decide(
        Evidence(**{k: v for k, v in paired_sums(labels, served, candidate).items()}), "accuracy"
    )
    assert paired_sums(labels, served, candidate)["accuracy"].squares == 0
    assert decision.promote and "better on Brier score" in decision.reason


def test_too_few_rows_decide_nothing() -> None:
    labels, served = _data(1, 20)
    candidate = np.clip(served + 0.3 * (2 * labels - 1), 0, 1)
    sums = paired_sums(labels, served, candidate)
    decision = decide(Evidence(sums["accuracy"], sums["brier"]), "accuracy")
    assert not decision.promote and "too few rows" in decision.reason
    with pytest.raises(ValueError, match="unknown measure"):
        decide(Evidence(sums["accuracy"], sums["brier"]), "f1")


def test_better_on_the_measure_but_worse_on_another_is_not_promoted() -> None:
    labels, served = _data(5, 800)
    right = (served >= 0.5) == (labels == 1)
    near = right & (np.abs(served - 0.5) < 0.1)
    # Rows already right and far from the threshold grow more confident (the Brier score
    # improves); rows right only just now cross it (accuracy falls on the paired rows).
    candidate = np.where(right & ~near, labels * 0.99 + (1 - labels) * 0.01, served)
    candidate = np.where(near, 0.5 - 0.02 * (2 * labels - 1), candidate)
    evidence = Evidence(**{k: v for k, v in paired_sums(labels, served, candidate).items()})
    brier_low, _ = evidence.interval("brier", 0.95)  # type: ignore[misc]
    _, accuracy_high = evidence.interval("accuracy", 0.95)  # type: ignore[misc]
    assert brier_low > 0 and accuracy_high < 0
    decision = decide(evidence, "brier")
    assert not decision.promote
    assert "worse on accuracy" in decision.reason


def test_the_level_sets_how_much_evidence_promotes() -> None:
    # 28 rows turned right and 16 turned wrong of 400: z ≈ 1.81, between the one-sided 5 %
    # quantile (1.645) and the 2.5 % one (1.96).
    evidence = Evidence(PairedSums(400, 28 - 16, 28 + 16), PairedSums(400, 0.0, 1.0))
    assert decide(evidence, "accuracy", level=0.90).promote
    assert not decide(evidence, "accuracy", level=0.95).promote
    assert "95 % CI" in decide(evidence, "accuracy", level=0.95).reason


def test_categorical_models_are_compared_on_the_same_rows() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, size=600)
    onehot = np.eye(3)[labels]
    served = 0.5 * onehot + 0.5 * rng.dirichlet(np.ones(3), size=600)
    better = 0.8 * onehot + 0.2 * rng.dirichlet(np.ones(3), size=600)
    sums = paired_sums(labels, served, better)
    assert sums["brier"].mean > 0 and sums["accuracy"].mean >= 0
    assert decide(Evidence(sums["accuracy"], sums["brier"]), "brier").promote
    worse = paired_sums(labels, better, served)
    assert not decide(Evidence(worse["accuracy"], worse["brier"]), "brier").promote


def test_delong_is_refused_for_class_probabilities() -> None:
    with pytest.raises(ValueError, match="binary models"):
        compare_auc(np.asarray([0, 1, 2]), np.eye(3), np.eye(3))
