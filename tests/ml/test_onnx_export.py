"""The ONNX file says nothing about hospitals: only the public part of the card goes in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from medfed.core.catalog import get_disease
from medfed.ml.baseline import train_baseline, untrained
from medfed.ml.datasets import load_dataset
from medfed.ml.onnx_export import export, raw_matrix


def test_hospitals_rounds_and_people_in_the_card_stay_out_of_the_file(datasets_dir: Path) -> None:
    spec = get_disease("heart")
    data = load_dataset(spec, datasets_dir)
    result = untrained(train_baseline(spec, data), data)
    card = {
        **result.card,
        "contributing_hospitals": ["St Elsewhere General", "Mercy West"],
        "rounds": [{"id": 7, "hospitals": {"St Elsewhere General": {"rows": 412}}}],
        "provenance": {"source": "round", "opened_by": "dr.house"},
    }
    blob = export(spec, result.model, "v1.3", card)
    for secret in (b"St Elsewhere", b"Mercy West", b"dr.house", b"412"):
        assert secret not in blob
    session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
    rows = data.rows[:50]
    (got,) = session.run(None, {"features": raw_matrix(spec, rows)})
    assert np.max(np.abs(got - result.model.predict_proba(rows))) <= 1e-12
