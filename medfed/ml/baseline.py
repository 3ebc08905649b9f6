"""Baseline v1.0: choose an architecture by cross-validation on the training split, train, test once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medfed.core.catalog import DiseaseSpec
from medfed.ml import metrics
from medfed.ml.datasets import LabelledData
from medfed.ml.model import Architecture, DiseaseModel, forward_logits, probabilities
from medfed.ml.network import build_network, get_parameters
from medfed.ml.preprocess import fit_preprocessor
from medfed.ml.splits import BASELINE_SEED, baseline_split, stratified_folds
from medfed.ml.train import TrainingConfig, train_parameters

CV_FOLDS = 5
BACKGROUND_ROWS = 48


@dataclass(frozen=True)
class Candidate:
    architecture: Architecture
    config: TrainingConfig

    def label(self) -> str:
        return f"{self.architecture.describe()}, L2 {self.config.weight_decay:g}"


CANDIDATES = (
    Candidate(
        Architecture("logistic"), TrainingConfig(epochs=300, learning_rate=0.05, weight_decay=1e-2)
    ),
    Candidate(
        Architecture("logistic"), TrainingConfig(epochs=300, learning_rate=0.05, weight_decay=1e-1)
    ),
    Candidate(
        Architecture("mlp", 16), TrainingConfig(epochs=300, learning_rate=0.01, weight_decay=1e-2)
    ),
)


@dataclass(frozen=True)
class BaselineResult:
    model: DiseaseModel
    card: dict[str, Any]
    train_index: np.ndarray
    test_index: np.ndarray


def fit(spec: DiseaseSpec, data: LabelledData, candidate: Candidate, seed: int) -> DiseaseModel:
    preprocessor = fit_preprocessor(spec, data.rows)
    inputs = preprocessor.transform(data.rows)
    config = dataclasses.replace(candidate.config, seed=seed)
    architecture = dataclasses.replace(candidate.architecture, outputs=spec.outputs)
    parameters = train_parameters(architecture, inputs, data.labels, config)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(inputs), size=min(BACKGROUND_ROWS, len(inputs)), replace=False)
    return DiseaseModel(
        spec.id,
        spec.schema_hash,
        architecture,
        preprocessor,
        parameters,
        inputs[np.sort(picked)],
    )


def evaluate(model: DiseaseModel, data: LabelledData) -> tuple[dict[str, object], np.ndarray]:
    inputs = model.preprocessor.transform(data.rows)
    predicted = probabilities(
        model.architecture, forward_logits(model.architecture, model.parameters, inputs)
    )
    return metrics.summary(data.labels, predicted), predicted


def select_candidate(
    spec: DiseaseSpec, train: LabelledData, seed: int
) -> tuple[Candidate, list[dict[str, object]]]:
    """Mean validation metric over stratified folds of the training split (test data unseen)."""
    rng = np.random.default_rng(seed)
    grouped = spec.dataset.split.stratify == "group"
    folds = stratified_folds(train.labels, CV_FOLDS, rng, train.groups if grouped else None)
    results = []
    best: tuple[float, int] = (-np.inf, 0)
    allowed = [c for c in CANDIDATES if c.architecture.kind in spec.model_families]
    for index, candidate in enumerate(allowed):
        scores = []
        for fold_train, fold_validation in folds:
            model = fit(spec, train.subset(fold_train), candidate, seed)
            summary, _ = evaluate(model, train.subset(fold_validation))
            scores.append(float(summary[spec.primary_metric]))  # type: ignore[arg-type]
        mean = float(np.nanmean(scores))
        results.append(
            {
                "candidate": candidate.label(),
                f"cv_{spec.primary_metric}": round(mean, 4),
                "cv_spread": round(float(np.nanstd(scores)), 4),
            }
        )
        # Prefer the simpler (earlier) candidate unless a later one is clearly better.
        if mean > best[0] + 0.005:
            best = (mean, index)
    return allowed[best[1]], results


def train_baseline(
    spec: DiseaseSpec, data: LabelledData, seed: int = BASELINE_SEED
) -> BaselineResult:
    torch.set_num_threads(1)  # tiny models: threads cost more than they give
    train_index, test_index = baseline_split(spec, data, seed)
    train, test = data.subset(train_index), data.subset(test_index)
    candidate, selection = select_candidate(spec, train, seed)
    model = fit(spec, train, candidate, seed)
    test_summary, test_probabilities = evaluate(model, test)
    train_summary, _ = evaluate(model, train)
    card = {
        "disease": spec.id,
        "title": spec.title,
        "architecture": model.architecture.describe(),
        "parameters": int(model.parameters.shape[0]),
        "metrics": test_summary,
        "train_metrics": train_summary,
        "calibration": metrics.reliability(test.labels, test_probabilities),
        "rows": {
            "total": len(data),
            "train": len(train),
            "test": len(test),
            **_rates(spec, data.labels),
        },
        "split": _describe_split(spec, data, test_index),
        "selection": {
            "folds": CV_FOLDS,
            "metric": spec.primary_metric,
            "candidates": selection,
            "chosen": candidate.label(),
        },
        "training": {
            **candidate.config.as_dict(),
            "seed": seed,
            "loss": "softmax cross-entropy + L2" if spec.categorical else "logistic loss + L2",
        },
        "data_source": spec.dataset.source,
        "cleaning": data.report.as_dict(),
    }
    return BaselineResult(model, card, train_index, test_index)


def _rates(spec: DiseaseSpec, labels: np.ndarray) -> dict[str, object]:
    if not spec.categorical:
        return {"positive_rate": round(float(labels.mean()), 4)}
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=spec.outputs)
    return {
        "class_rates": {
            label: round(float(count) / max(1, len(labels)), 4)
            for label, count in zip(spec.class_labels, counts, strict=True)
        }
    }


def _describe_split(spec: DiseaseSpec, data: LabelledData, test_index: np.ndarray) -> str:
    fraction = f"{spec.dataset.split.test_fraction:.0%} held out"
    if spec.dataset.split.stratify == "group":
        groups = {data.groups[int(i)] for i in test_index}
        return f"{fraction} by subject ({len(groups)} of {len(set(data.groups))} subjects), stratified by diagnosis"
    if spec.dataset.split.stratify == "target_within_site":
        return f"{fraction}, stratified by diagnosis within each of {len(set(data.sites))} sites"
    return f"{fraction}, stratified by diagnosis"


def untrained(
    result: BaselineResult, data: LabelledData, seed: int = BASELINE_SEED
) -> BaselineResult:
    """The same preprocessing and architecture with freshly initialised weights (PyTorch's
    default initialisation, seeded): a starting point that has learned nothing from patients,
    for federated simulations that must not start from a model trained on the sites' data."""
    torch.manual_seed(seed)
    network = build_network(result.model.architecture, result.model.preprocessor.width)
    model = result.model.with_parameters(get_parameters(network))
    test_summary, _ = evaluate(model, data.subset(result.test_index))
    card = {
        **result.card,
        "metrics": test_summary,
        "train_metrics": None,
        "note": "Untrained starting point: preprocessing statistics from the public training "
        "split, weights freshly initialised; it has learned nothing yet.",
    }
    return BaselineResult(model, card, result.train_index, result.test_index)
