"""Buffered asynchronous aggregation (FedBuff, Nguyen et al. 2022), pure: arrays in, arrays out.

Hospitals contribute whenever they have trained, each from the training-line checkpoint it
downloaded. The server keeps the updates in a buffer and, once `size` have arrived, applies
their staleness-weighted mean to the current head of the training line. An update trained
from a checkpoint `s` versions behind the head counts with weight rows / sqrt(1 + s) (the
paper's polynomial staleness discount); one more than `max_staleness` behind is never used.

Protection: the K contributors need not be online together, so secure aggregation (which
needs them in one protocol run) does not apply. Buffered mode is plain + DP: each update is
DP-SGD-protected at its node and the server sees it. An administrator must opt in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from medfed.fl import promotion
from medfed.fl.aggregate import weighted_mean

MEASURES = ("accuracy", "roc_auc", "brier")


@dataclass(frozen=True)
class BufferSettings:
    size: int = 3  # contributions that trigger an aggregation
    max_staleness: int = 5  # checkpoints behind the head an update may be trained from
    server_learning_rate: float = 1.0
    norm_bound: float = 10.0  # L2 bound on one update
    require_dp: bool = True  # refuse updates that carry no DP epsilon
    metric: str = "brier"  # the promotion rule's measure
    tolerance: float = 0.01  # its non-inferiority margin
    confidence: float = promotion.DEFAULT_CONFIDENCE  # its two-sided level

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BufferSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if not 1 <= self.size <= 1000:
            found.append(("size", "size must be between 1 and 1000 contributions"))
        if not 0 <= self.max_staleness <= 1000:
            found.append(("max_staleness", "max_staleness must be between 0 and 1000 versions"))
        if not (math.isfinite(self.server_learning_rate) and 0 < self.server_learning_rate <= 10):
            found.append(("server_learning_rate", "server_learning_rate must be in (0, 10]"))
        if not (math.isfinite(self.norm_bound) and self.norm_bound > 0):
            found.append(("norm_bound", "norm_bound must be a positive number"))
        if self.metric not in MEASURES:
            found.append(("metric", f"metric must be one of {', '.join(MEASURES)}"))
        if not (math.isfinite(self.tolerance) and 0 <= self.tolerance <= 1):
            found.append(("tolerance", "tolerance must be between 0 and 1"))
        low, high = promotion.MIN_CONFIDENCE, promotion.MAX_CONFIDENCE
        if not (math.isfinite(self.confidence) and low <= self.confidence <= high):
            found.append(("confidence", f"confidence must be between {low:g} and {high:g}"))
        return found


def staleness_weight(staleness: int) -> float:
    """1 / sqrt(1 + s): an update from the head counts fully, older ones less."""
    if staleness < 0:
        raise ValueError("staleness cannot be negative")
    return 1.0 / math.sqrt(1.0 + staleness)


def buffered_step(
    updates: np.ndarray, rows: np.ndarray, staleness: np.ndarray, server_learning_rate: float
) -> np.ndarray:
    """The change applied to the head: the learning rate times the staleness-weighted mean."""
    weights = np.asarray(rows, dtype=np.float64) * np.asarray(
        [staleness_weight(int(s)) for s in staleness]
    )
    return server_learning_rate * weighted_mean(updates, weights)
