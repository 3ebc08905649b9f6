"""The server's held-out validation data: each disease's public baseline test split.

Loaded once per disease and kept in memory (the public datasets are small). A server without
the datasets has no held-out data; the validation gate then relies on federated evaluation.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from medfed.core.catalog import get_disease
from medfed.core.errors import DatasetProblem
from medfed.fl import promotion
from medfed.fl.promotion import compare_auc, paired_sums
from medfed.ml import metrics
from medfed.ml.datasets import LabelledData, load_dataset
from medfed.ml.model import DiseaseModel
from medfed.ml.splits import baseline_split


class HoldoutData:
    def __init__(self, datasets_dir: Path, evidence: bool = True) -> None:
        self.datasets_dir = datasets_dir
        self.evidence = evidence  # False: the rows' metrics are shown but never decide
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

    def compare(self, served: DiseaseModel, candidate: DiseaseModel) -> dict[str, Any] | None:
        """Both models on the same held-out rows: their metrics, the paired sums the promotion
        rule pools, and DeLong's comparison of their AUCs (without these two when the held-out
        rows are not evidence)."""
        data = self.get(served.disease)
        if data is None:
            return None
        labels = np.asarray(data.labels)
        served_p, candidate_p = served.predict_proba(data.rows), candidate.predict_proba(data.rows)
        paired = paired_sums(labels, served_p, candidate_p)
        comparison: dict[str, Any] = {
            "served": metrics.summary(labels, served_p),
            "candidate": metrics.summary(labels, candidate_p),
            "paired": {name: sums.as_dict() for name, sums in paired.items()},
            "auc": None,
        }
        if not self.evidence:
            del comparison["paired"]
            return comparison
        try:
            auc = compare_auc(labels, served_p, candidate_p)
        except ValueError:  # a held-out set with fewer than two rows of a class has no AUC
            return comparison
        comparison["auc"] = {
            "served": auc.served,
            "candidate": auc.candidate,
            "standard_error": auc.standard_error,
            "rows": auc.rows,
        }
        return comparison

    def calibration(self, model: DiseaseModel) -> dict[str, object] | None:
        """The model's reliability table on the held-out rows (what its card shows doctors)."""
        data = self.get(model.disease)
        if data is None:
            return None
        return metrics.reliability(np.asarray(data.labels), model.predict_proba(data.rows))

    def evaluate(self, model: DiseaseModel) -> dict[str, object] | None:
        data = self.get(model.disease)
        if data is None:
            return None
        probabilities = model.predict_proba(data.rows)
        return metrics.summary(np.asarray(data.labels), probabilities)


def evidence_from(
    server: dict[str, Any] | None, reports: list[dict[str, Any]]
) -> promotion.Evidence:
    """What the promotion rule weighs: the held-out comparison (`HoldoutData.compare`) and
    hospitals' reports with paired sums, pooled."""
    server = server or {}
    pooled = {name: promotion.PairedSums() for name in ("accuracy", "brier")}
    for source in [server.get("paired") or {}, *(r["paired"] for r in reports)]:
        for name in pooled:
            if name in source:
                pooled[name] = pooled[name] + promotion.PairedSums.from_dict(source[name])
    auc = server.get("auc")
    return promotion.Evidence(
        accuracy=pooled["accuracy"],
        brier=pooled["brier"],
        auc=promotion.AucComparison(
            float(auc["served"]),
            float(auc["candidate"]),
            float(auc["standard_error"]),
            int(auc["rows"]),
        )
        if auc
        else None,
        server_rows=int(server.get("served", {}).get("rows") or 0) if server.get("paired") else 0,
        hospitals=len(reports),
    )
