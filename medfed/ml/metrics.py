"""Classification metrics for binary and categorical risk models (pure NumPy).

Binary models give P(positive) per row, shape (rows,); categorical ones a probability per
class, shape (rows, classes), with labels holding the class index.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def accuracy(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> float:
    """Share of rows whose answer is right: P >= threshold, or the most probable class."""
    if probabilities.ndim == 2:
        return float(np.mean(probabilities.argmax(axis=1) == labels))
    return float(np.mean((probabilities >= threshold).astype(int) == labels))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic, ties counted as one half; for
    class probabilities (rows, classes), the macro mean of each class against the rest."""
    if scores.ndim == 2:
        aucs = [roc_auc((labels == k).astype(int), scores[:, k]) for k in range(scores.shape[1])]
        present = [a for a in aucs if not np.isnan(a)]
        return float(np.mean(present)) if present else float("nan")
    labels = np.asarray(labels)
    positives, negatives = int(labels.sum()), int(len(labels) - labels.sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    start = 0
    while start < len(sorted_scores):
        end = start
        while end + 1 < len(sorted_scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    rank_sum = ranks[labels == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def f1(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> float:
    predicted = probabilities >= threshold
    true_positive = float(np.sum(predicted & (labels == 1)))
    denominator = float(np.sum(predicted)) + float(np.sum(labels == 1))
    return 0.0 if denominator == 0 else 2.0 * true_positive / denominator


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((probabilities - labels) ** 2))


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> dict[str, object]:
    """Expected calibration error and the reliability table over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    table = []
    error = 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if count == 0:
            continue
        predicted = float(probabilities[members].mean())
        observed = float(labels[members].mean())
        error += count / len(labels) * abs(predicted - observed)
        table.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "count": count,
                "mean_predicted": round(predicted, 4),
                "observed_rate": round(observed, 4),
            }
        )
    return {"expected_calibration_error": round(error, 4), "bins": table}


def scalars(found: dict[str, Any]) -> dict[str, Any]:
    """The single numbers of a summary, kept in their groups (no per-class lists or matrices):
    what a hospital reports to the server about its rows, which needs no more."""
    return {
        k: scalars(v) if isinstance(v, dict) else v
        for k, v in found.items()
        if v is None or isinstance(v, int | float | dict)
    }


def summary(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, object]:
    if np.ndim(probabilities) == 2:
        return multiclass_summary(labels, probabilities)
    return {
        "accuracy": round(accuracy(labels, probabilities), 4),
        "roc_auc": round(roc_auc(labels, probabilities), 4),
        "f1": round(f1(labels, probabilities), 4),
        "brier": round(brier(labels, probabilities), 4),
        "rows": len(labels),
        "positives": int(np.sum(labels)),
    }


def multiclass_brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Brier's original score: the squared distance to the one-hot outcome, summed over the
    classes and averaged over rows (0 is perfect, 2 the worst)."""
    onehot = np.eye(probabilities.shape[1])[np.asarray(labels, dtype=np.int64)]
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


def confusion(labels: np.ndarray, probabilities: np.ndarray) -> list[list[int]]:
    """Rows: the true class; columns: the most probable class."""
    classes = probabilities.shape[1]
    table = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(table, (np.asarray(labels, dtype=np.int64), probabilities.argmax(axis=1)), 1)
    return table.tolist()


def multiclass_summary(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, object]:
    """Accuracy of the most probable class, macro one-vs-rest ROC AUC (classes absent from the
    rows are left out of the mean), recall per class, the confusion matrix and the Brier score."""
    labels = np.asarray(labels, dtype=np.int64)
    classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    aucs = [roc_auc((labels == k).astype(int), probabilities[:, k]) for k in range(classes)]
    macro = roc_auc(labels, probabilities)
    recall = [
        round(float(np.mean(predicted[labels == k] == k)), 4) if np.any(labels == k) else None
        for k in range(classes)
    ]
    return {
        "accuracy": round(float(np.mean(predicted == labels)), 4),
        "roc_auc": round(macro, 4) if not np.isnan(macro) else macro,
        "roc_auc_per_class": [None if np.isnan(a) else round(float(a), 4) for a in aucs],
        "recall_per_class": recall,
        "confusion": confusion(labels, probabilities),
        "brier": round(multiclass_brier(labels, probabilities), 4),
        "rows": len(labels),
        "per_class_rows": np.bincount(labels, minlength=classes).tolist(),
    }


def reliability(labels: np.ndarray, predicted: np.ndarray) -> dict[str, object]:
    """The calibration table of any model: binary, P(positive) against the outcome;
    categorical, every class's probability against whether the row is of that class, pooled
    over the classes (one-vs-rest)."""
    if np.ndim(predicted) == 1:
        return calibration(labels, predicted)
    onehot = np.eye(predicted.shape[1])[np.asarray(labels, dtype=np.int64)]
    return calibration(onehot.ravel(), np.asarray(predicted).ravel())
