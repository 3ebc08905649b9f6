"""Sentences a doctor reads: factors, the caveat against expectation, similar patients."""

from __future__ import annotations

from medfed.core.catalog import get_disease
from medfed.ml.narrate import (
    AGAINST_EXPECTATION,
    against_expectation,
    factor_sentence,
    similar_patients,
)
from medfed.ml.preprocess import FeatureStats

CHOLESTEROL = get_disease("heart").feature("cholesterol")
STATS = FeatureStats("cholesterol", "number", fill=240.0, mean=245.0, scale=50.0)


def test_high_cholesterol_lowering_the_risk_is_flagged_as_against_expectation() -> None:
    assert against_expectation(CHOLESTEROL, STATS, 320.0, -0.3)
    sentence = factor_sentence(CHOLESTEROL, STATS, 320.0, -0.3)
    assert sentence.endswith("lowers the risk" + AGAINST_EXPECTATION)
    assert not against_expectation(CHOLESTEROL, STATS, 320.0, +0.3)
    assert not against_expectation(CHOLESTEROL, STATS, 160.0, -0.3)  # low value, lower risk


def test_values_near_the_average_and_tiny_pushes_are_not_judged() -> None:
    assert not against_expectation(CHOLESTEROL, STATS, 250.0, -0.3)  # within half an SD
    assert not against_expectation(CHOLESTEROL, STATS, 320.0, -0.01)  # no real push
    assert not against_expectation(CHOLESTEROL, STATS, None, -0.3)


CALIBRATION = {
    "bins": [
        {"bin": "0.0-0.1", "count": 40, "mean_predicted": 0.05, "observed_rate": 0.025},
        {"bin": "0.6-0.7", "count": 20, "mean_predicted": 0.65, "observed_rate": 0.6},
        {"bin": "0.9-1.0", "count": 3, "mean_predicted": 0.95, "observed_rate": 1.0},
    ]
}


def test_similar_patients_reads_the_calibration_bin_of_the_estimate() -> None:
    assert similar_patients(CALIBRATION, 0.64, "diabetes") == (
        "Of 20 held-out patients whose estimate was also between 60 % and 70 %, "
        "12 (60 %) had diabetes."
    )
    assert "too few" in similar_patients(CALIBRATION, 1.0, "diabetes")
    assert "no calibration table" in similar_patients(CALIBRATION, 0.35, "diabetes")
    assert "no calibration table" in similar_patients(None, 0.5, "diabetes")
