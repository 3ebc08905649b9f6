"""Re-expressing a model in the network's standardisation leaves every prediction unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medfed.core.catalog import get_disease
from medfed.ml.datasets import load_dataset
from medfed.ml.model import Architecture, DiseaseModel
from medfed.ml.preprocess import fit_preprocessor
from medfed.ml.restandardise import restandardise


@pytest.mark.parametrize(
    ("disease", "architecture"),
    [
        ("heart", Architecture("logistic")),
        ("diabetes", Architecture("mlp", hidden=8)),
        ("comorbidity_risk", Architecture("logistic", outputs=3)),
    ],
)
def test_predictions_do_not_move_and_the_new_figures_are_used(
    datasets_dir: Path, disease: str, architecture: Architecture
) -> None:
    spec = get_disease(disease)
    data = load_dataset(spec, datasets_dir)
    preprocessor = fit_preprocessor(spec, data.rows)
    rng = np.random.default_rng(3)
    count = architecture.parameter_count(preprocessor.width)
    model = DiseaseModel(
        disease, spec.schema_hash, architecture, preprocessor, rng.normal(0, 0.5, count),
        preprocessor.transform(data.rows[:20]),
    )  # fmt: skip
    numbers = [s for s in preprocessor.stats if s.kind == "number"][:3]
    centres = {s.name: (s.mean + 7.5, s.scale * 1.7) for s in numbers}
    moved = restandardise(model, centres)
    rows = data.rows[:200]
    assert np.max(np.abs(moved.predict_proba(rows) - model.predict_proba(rows))) < 1e-9
    for stat in moved.preprocessor.stats:
        if stat.name in centres:
            assert (stat.mean, stat.scale) == centres[stat.name]
    # The background (explanations' reference) is the same rows, re-expressed.
    assert np.allclose(moved.background, moved.preprocessor.transform(data.rows[:20]))
    assert model.preprocessor is preprocessor  # the original is untouched
    with pytest.raises(ValueError, match="sd positive"):
        restandardise(model, {numbers[0].name: (1.0, 0.0)})
    with pytest.raises(ValueError, match="no feature"):
        restandardise(model, {"shoe_size": (1.0, 1.0)})
