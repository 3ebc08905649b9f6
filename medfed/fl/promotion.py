"""Promotion by evidence: is a candidate better than the served version on the same rows?

Both models score the same patients: the server's held-out rows and each hospital's own
validation rows. Per row i the difference d_i is taken so that positive means "the candidate did
better" (one more correct answer; a smaller squared error). A hospital never sends d_i, a label
or a probability: only the three sums n, Σd and Σd² per measure (`PairedSums`), which is all a
paired test of the mean difference needs, and sums from several hospitals simply add up.

For accuracy, d_i ∈ {-1, 0, 1}: Σd is the difference of the discordant counts (McNemar's b - c)
and Σd² their total (b + c). For the Brier score, d_i is the served model's squared error minus
the candidate's. The mean difference gets a normal (Wald) interval; it is wide when rows are
few, so a small validation set cannot promote a candidate on noise. ROC AUC is not a mean over
rows; it is compared on the server's held-out rows only, with DeLong's variance for two
correlated AUCs (DeLong, DeLong & Clarke-Pearson, Biometrics 1988).

The rule (`decide`): promote when the lower end of the interval for the chosen measure is above
zero (better), or when it is above -margin (no worse than the margin) and the secondary measure
is better on its own interval; and in either case only if no other measure's interval lies
wholly below zero (the evidence says worse there). Otherwise the served version stays, whatever
the point estimate.

The default measure is the Brier score. It is a proper scoring rule, so it rewards the true
probabilities, and its per-row differences between two similar models are small and steady, so a
paired interval on it is narrow; accuracy changes only on the few rows whose prediction crosses
the threshold, and needs several times more rows for the same evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

THRESHOLD = 0.5  # the decision threshold for "correct" (as in `ml.metrics.accuracy`)
MIN_ROWS = 30  # fewer paired rows than this decide nothing
MEASURES = ("accuracy", "brier", "roc_auc")
# The interval's two-sided level. Promotion reads only its lower end, so 0.90 is a one-sided
# test at 5 %: a candidate no better than the served version is promoted in a round with
# probability at most 5 %. 0.95 (one-sided 2.5 %) promotes less often and later.
DEFAULT_CONFIDENCE = 0.90
MIN_CONFIDENCE, MAX_CONFIDENCE = 0.5, 0.999


@dataclass(frozen=True)
class PairedSums:
    """n, Σd and Σd² of per-row differences (positive: the candidate did better)."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def __add__(self, other: PairedSums) -> PairedSums:
        return PairedSums(self.n + other.n, self.total + other.total, self.squares + other.squares)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def standard_error(self) -> float:
        if self.n < 2:
            return math.inf
        variance = (self.squares - self.n * self.mean**2) / (self.n - 1)
        return math.sqrt(max(variance, 0.0) / self.n)

    def interval(self, level: float) -> tuple[float, float]:
        half = z_for(level) * self.standard_error
        return self.mean - half, self.mean + half

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "total": self.total, "squares": self.squares}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairedSums:
        n, total, squares = int(data["n"]), float(data["total"]), float(data["squares"])
        if n < 0 or squares < 0 or not (math.isfinite(total) and math.isfinite(squares)):
            raise ValueError("paired sums need n ≥ 0 and finite sums with Σd² ≥ 0")
        if total * total > n * squares * (1 + 1e-9) + 1e-9:
            raise ValueError("paired sums are inconsistent: (Σd)² cannot exceed n·Σd²")
        return cls(n, total, squares)


def z_for(level: float) -> float:
    """The two-sided normal quantile for a confidence level (1.96 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def sums_of(differences: np.ndarray) -> PairedSums:
    values = np.asarray(differences, dtype=np.float64)
    return PairedSums(int(values.size), float(values.sum()), float(np.square(values).sum()))


def paired_sums(
    labels: np.ndarray, served: np.ndarray, candidate: np.ndarray
) -> dict[str, PairedSums]:
    """What one site reports about its rows: the sums for accuracy and for the Brier score.
    Binary models give P(positive) per row; categorical ones a row of class probabilities,
    where "correct" is the most probable class and the error is summed over the classes."""
    served, candidate = (
        np.asarray(served, dtype=np.float64),
        np.asarray(candidate, dtype=np.float64),
    )
    if served.ndim == 2:
        index = np.asarray(labels, dtype=np.int64)
        onehot = np.eye(served.shape[1])[index]
        served_correct = (served.argmax(axis=1) == index).astype(np.float64)
        candidate_correct = (candidate.argmax(axis=1) == index).astype(np.float64)
        served_error = np.square(served - onehot).sum(axis=1)
        candidate_error = np.square(candidate - onehot).sum(axis=1)
        return {
            "accuracy": sums_of(candidate_correct - served_correct),
            "brier": sums_of(served_error - candidate_error),
        }
    labels = np.asarray(labels, dtype=np.float64)
    served_correct = ((served >= THRESHOLD) == (labels == 1)).astype(np.float64)
    candidate_correct = ((candidate >= THRESHOLD) == (labels == 1)).astype(np.float64)
    served_error = np.square(served - labels)
    candidate_error = np.square(candidate - labels)
    return {
        "accuracy": sums_of(candidate_correct - served_correct),
        "brier": sums_of(served_error - candidate_error),
    }


@dataclass(frozen=True)
class AucComparison:
    served: float
    candidate: float
    standard_error: float
    rows: int

    @property
    def difference(self) -> float:
        return self.candidate - self.served

    def interval(self, level: float) -> tuple[float, float]:
        half = z_for(level) * self.standard_error
        return self.difference - half, self.difference + half


def compare_auc(labels: np.ndarray, served: np.ndarray, candidate: np.ndarray) -> AucComparison:
    """Two AUCs on the same rows with DeLong's variance of their difference."""
    if np.ndim(served) != 1:
        raise ValueError("DeLong's comparison is for binary models (categorical: Brier, accuracy)")
    labels = np.asarray(labels)
    positive, negative = labels == 1, labels == 0
    m, n = int(positive.sum()), int(negative.sum())
    if m < 2 or n < 2:
        raise ValueError("comparing AUCs needs at least two rows of each class")
    components = []
    aucs = []
    for scores in (np.asarray(served), np.asarray(candidate)):
        x, y = scores[positive][:, None], scores[negative][None, :]
        kernel = (x > y).astype(np.float64) + 0.5 * (x == y)
        aucs.append(float(kernel.mean()))
        components.append((kernel.mean(axis=1), kernel.mean(axis=0)))  # V10 (positives), V01
    v10 = np.stack([c[0] for c in components])
    v01 = np.stack([c[1] for c in components])
    covariance = np.cov(v10) / m + np.cov(v01) / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    return AucComparison(aucs[0], aucs[1], math.sqrt(max(float(variance), 0.0)), m + n)


@dataclass(frozen=True)
class Evidence:
    """Everything the rule weighs: pooled paired sums, and the held-out AUC comparison."""

    accuracy: PairedSums
    brier: PairedSums
    auc: AucComparison | None = None
    server_rows: int = 0
    hospitals: int = 0

    def interval(self, measure: str, level: float) -> tuple[float, float] | None:
        if measure == "roc_auc":
            return self.auc.interval(level) if self.auc else None
        sums = self.accuracy if measure == "accuracy" else self.brier
        return sums.interval(level) if sums.n >= MIN_ROWS else None

    def estimate(self, measure: str) -> float:
        if measure == "roc_auc":
            return self.auc.difference if self.auc else 0.0
        return (self.accuracy if measure == "accuracy" else self.brier).mean


@dataclass(frozen=True)
class Promotion:
    promote: bool
    reason: str
    evidence: dict[str, Any]


NAMES = {"accuracy": "accuracy", "brier": "Brier score", "roc_auc": "ROC AUC"}


def describe(evidence: Evidence, measure: str, level: float) -> str:
    """'accuracy +0.012, 90 % CI [+0.004, +0.020], 182 rows at 4 hospitals + 230 held-out'."""
    interval = evidence.interval(measure, level)
    if interval is None:
        return f"{NAMES[measure]}: too few rows to tell"
    change, (low, high) = evidence.estimate(measure), interval
    note = ""
    if measure == "brier":  # kept as served minus candidate; shown as the change in the score
        change, low, high, note = -change, -high, -low, " (lower is better)"
    if measure == "roc_auc" and evidence.auc:
        rows = f"{evidence.auc.rows} held-out rows"
    else:
        parts = []
        if evidence.hospitals:
            at_hospitals = evidence.accuracy.n - evidence.server_rows
            parts.append(f"{at_hospitals} rows at {evidence.hospitals} hospitals")
        if evidence.server_rows:
            parts.append(f"{evidence.server_rows} held-out")
        rows = " + ".join(parts) or f"{evidence.accuracy.n} rows"
    return (
        f"{NAMES[measure]} {change:+.3f}{note}, {level * 100:.0f} % CI "
        f"[{low:+.3f}, {high:+.3f}], {rows}"
    )


def decide(
    evidence: Evidence,
    measure: str = "roc_auc",
    margin: float = 0.01,
    level: float = DEFAULT_CONFIDENCE,
) -> Promotion:
    """Promote only when the evidence says the candidate is better, or no worse than `margin`
    on `measure` while the secondary measure (the Brier score, or accuracy when the measure is
    the Brier score) is better. Differences are candidate minus served, "better" positive."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}")
    secondary = "accuracy" if measure == "brier" else "brier"
    primary_interval = evidence.interval(measure, level)
    secondary_interval = evidence.interval(secondary, level)
    record: dict[str, Any] = {
        "measure": measure,
        "secondary": secondary,
        "margin": margin,
        "level": level,
        "accuracy": evidence.accuracy.as_dict(),
        "brier": evidence.brier.as_dict(),
        "hospitals": evidence.hospitals,
        "server_rows": evidence.server_rows,
    }
    if evidence.auc:
        record["roc_auc"] = {
            "served": evidence.auc.served,
            "candidate": evidence.auc.candidate,
            "standard_error": evidence.auc.standard_error,
            "rows": evidence.auc.rows,
        }
    words = describe(evidence, measure, level)
    if primary_interval is None:
        return _verdict(False, "", words, record)
    for other in MEASURES:
        interval = evidence.interval(other, level) if other != measure else None
        if interval is not None and interval[1] < 0:
            worse = describe(evidence, other, level)
            return _verdict(False, f"worse on {NAMES[other]}", f"{words}; {worse}", record)
    low = primary_interval[0]
    if low > 0:
        return _verdict(True, "better", words, record)
    if low > -margin and secondary_interval is not None and secondary_interval[0] > 0:
        also = describe(evidence, secondary, level)
        verdict = f"no worse than {margin:g} and better on {NAMES[secondary]}"
        return _verdict(True, verdict, f"{words}; {also}", record)
    return _verdict(False, "the evidence is not enough", words, record)


def _verdict(promote: bool, verdict: str, words: str, record: dict[str, Any]) -> Promotion:
    """The decision, its reason in one line, and the same in parts for pages to lay out."""
    outcome = "promoted" if promote else "not promoted"
    reason = f"{outcome}, {verdict}: {words}" if verdict else f"{outcome}: {words}"
    return Promotion(promote, reason, {**record, "verdict": verdict, "words": words})
