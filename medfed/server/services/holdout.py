"""The server's held-out validation data: each disease's public baseline test split.

Loaded once per disease and kept in memory (the public datasets are small). A server without
the datasets has no held-out data; the validation gate then relies on federated evaluation.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from medfed.core.catalog import get_disease
from medfed.core.errors import DatasetProblem
from medfed.ml import metrics
from medfed.ml.baseline import baseline_split
from medfed.ml.datasets import LabelledData, load_dataset
from medfed.ml.model import DiseaseModel


class HoldoutData:
    def __init__(self, datasets_dir: Path) -> None:
        self.datasets_dir = datasets_dir
        self._sets: dict[str, LabelledData | None] = {}
        self._lock = threading.Lock()

    def get(self, disease: str) -> LabelledData | None:
        with self._lock:
            if disease not in self._sets:
                spec = get_disease(disease)
                try:
                    data = load_dataset(spec, self.datasets_dir)
                except DatasetProblem:
                    self._sets[disease] = None
                else:
                    _, test_index = baseline_split(spec, data)
                    self._sets[disease] = data.subset(test_index)
            return self._sets[disease]

    def calibration(self, model: DiseaseModel) -> dict[str, object] | None:
        """The model's reliability table on the held-out rows (what its card shows doctors)."""
        data = self.get(model.disease)
        if data is None:
            return None
        return metrics.calibration(np.asarray(data.labels), model.predict_proba(data.rows))

    def evaluate(self, model: DiseaseModel) -> dict[str, object] | None:
        data = self.get(model.disease)
        if data is None:
            return None
        probabilities = model.predict_proba(data.rows)
        return metrics.summary(np.asarray(data.labels), probabilities)
