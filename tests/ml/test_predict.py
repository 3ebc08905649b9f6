"""One patient scored: the same logic serves doctors on the server and staff at the node."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.coercion import validate_patient
from medfed.ml.baseline import train_baseline
from medfed.ml.datasets import load_dataset
from medfed.ml.model import DiseaseModel
from medfed.ml.predict import confidence_level, score

DATASETS = Path(__file__).resolve().parents[2] / "medfed" / "datasets"


@cache
def trained(disease: str) -> tuple[DiseaseSpec, DiseaseModel]:
    spec = get_disease(disease)
    return spec, train_baseline(spec, load_dataset(spec, DATASETS), seed=3).model


def test_a_binary_score_is_the_positive_probability_and_its_band() -> None:
    spec, model = trained("diabetes")
    row = validate_patient(spec, {"glucose": 190, "bmi": 41, "age": 55})
    scored = score(spec, model, row)
    assert scored.probability == pytest.approx(float(model.predict_proba([row])[0]))
    assert scored.class_probabilities == pytest.approx((1 - scored.probability, scored.probability))
    assert scored.band == spec.risk_band(scored.probability) and scored.band.name == "high"
    assert scored.per_class == [] and "insulin" in scored.imputed
    total = scored.explanation.base_value + sum(f.shap for f in scored.factors)
    assert total == pytest.approx(scored.explanation.logit, abs=1e-5)
    top = scored.top(3)
    assert top[0].feature == "glucose" and top[0].text.endswith("raises the risk")


def test_a_categorical_score_names_the_likeliest_class_and_explains_it() -> None:
    spec, model = trained("comorbidity_risk")
    row = validate_patient(
        spec, {"age": 81, "diagnosis_count": 9, "metastatic": "yes", "heart_failure": True}
    )
    assert row["renal"] is False  # a condition left out is absent, not unknown
    scored = score(spec, model, row)
    assert sum(scored.class_probabilities) == pytest.approx(1.0)
    assert scored.predicted == int(np.argmax(scored.class_probabilities)) == 2
    assert scored.band.name == "high" and scored.band.class_label == "High"
    assert scored.probability == scored.class_probabilities[2] == scored.confidence
    assert len(scored.per_class) == 3 and scored.explanation is scored.per_class[2]
    assert scored.imputed == []
    strongest = scored.top(1)[0]
    assert strongest.feature == "metastatic"
    assert strongest.text == "Metastatic solid tumour: yes raises the chance of High"
    low = score(spec, model, validate_patient(spec, {"age": 35, "diagnosis_count": 1}))
    assert spec.class_labels[low.predicted] == "Low" and low.band.name == "low"


def test_without_an_explanation_the_probabilities_are_the_same() -> None:
    spec, model = trained("comorbidity_risk")
    row = validate_patient(spec, {"age": 70, "diagnosis_count": 4, "renal": True})
    quick, full = score(spec, model, row, explained=False), score(spec, model, row)
    assert quick.class_probabilities == full.class_probabilities
    assert quick.top(5) == [] and quick.per_class == []


def test_confidence_levels() -> None:
    assert [confidence_level(c) for c in (0.9, 0.7, 0.4)] == ["high", "medium", "low"]
