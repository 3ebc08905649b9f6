"""A model's learned direction per input, beside the clinically expected one."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfed.core.catalog import get_disease
from medfed.ml.baseline import train_baseline
from medfed.ml.datasets import load_dataset
from medfed.ml.directions import MIN_EFFECT, learned_directions
from medfed.ml.model import DiseaseModel


@pytest.fixture(scope="module")
def heart_model(datasets_dir: Path) -> DiseaseModel:
    spec = get_disease("heart")
    return train_baseline(spec, load_dataset(spec, datasets_dir), seed=1).model


def test_glucose_raises_diabetes_risk_as_expected(datasets_dir: Path) -> None:
    spec = get_disease("diabetes")
    model = train_baseline(spec, load_dataset(spec, datasets_dir), seed=1).model
    glucose = next(d for d in learned_directions(spec, model) if d.feature == "glucose")
    assert glucose.learned == "raises" and not glucose.contradicts


def test_a_model_with_every_weight_negated_contradicts_every_expectation(
    heart_model: DiseaseModel,
) -> None:
    spec = get_disease("heart")
    honest = learned_directions(spec, heart_model)
    flipped = learned_directions(spec, heart_model.with_parameters(-heart_model.parameters))
    assert [d.feature for d in honest] == [f.name for f in spec.features if f.expected]
    for before, after in zip(honest, flipped, strict=True):
        assert after.change == pytest.approx(-before.change)
        if abs(before.change) >= MIN_EFFECT:
            assert after.contradicts != before.contradicts
    # The public heart data agrees with cardiology on exercise angina and ST depression.
    assert {d.feature for d in honest if d.contradicts}.isdisjoint(
        {"exercise_angina", "st_depression"}
    )
