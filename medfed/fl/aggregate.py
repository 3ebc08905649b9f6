"""Reductions over hospitals' updates (pure: arrays in, arrays out).

`updates` is a (hospitals x parameters) array of parameter deltas from the round's base model,
or for `weighted_sum` the hospitals' vectors one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import blas


def _check(updates: np.ndarray) -> np.ndarray:
    array = np.asarray(updates, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError("updates must be a non-empty (hospitals x parameters) array")
    return array


def _weights(weights: np.ndarray, count: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if count == 0 or w.shape != (count,) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be one non-negative number per update, not all zero")
    return w


def weighted_mean(updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """FedAvg's reduction (McMahan et al. 2017): the mean weighted by each hospital's rows."""
    array = _check(updates)
    w = _weights(weights, array.shape[0])
    return np.asarray((w / w.sum()) @ array)


def weighted_sum(updates: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Σ w_k x_k in float32, the precision updates travel in: one BLAS axpy per update into one
    accumulator, reading each update once where it lies (no stacked copy, no widening)."""
    w = _weights(weights, len(updates))
    length = len(updates[0])
    total = np.zeros(length, dtype=np.float32)
    for update, weight in zip(updates, w, strict=True):
        vector = np.asarray(update, dtype=np.float32)
        if vector.shape != (length,):
            raise ValueError("every update must be a vector of the same length")
        total = blas.saxpy(vector, total, a=float(weight))  # in place: total is float32
    return total


def mean_from_sum(weighted_sum: np.ndarray, total_weight: float) -> np.ndarray:
    """sum(n_k * x_k) / sum(n_k), in the sum's own precision (float32 for updates as they travel)."""
    if total_weight <= 0:
        raise ValueError("total weight must be positive")
    array = np.asarray(weighted_sum)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return np.asarray(np.divide(array, total_weight, dtype=array.dtype))


def coordinate_median(updates: np.ndarray) -> np.ndarray:
    """Coordinate-wise median (Yin et al. 2018): robust to fewer than half of the hospitals."""
    return np.asarray(np.median(_check(updates), axis=0))


def trimmed_mean(updates: np.ndarray, trim_fraction: float) -> np.ndarray:
    """Coordinate-wise mean after dropping the `trim_fraction` largest and smallest values."""
    array = _check(updates)
    if not 0 <= trim_fraction < 0.5:
        raise ValueError("trim_fraction must be in [0, 0.5)")
    cut = int(np.floor(trim_fraction * array.shape[0]))
    ordered = np.sort(array, axis=0)
    return np.asarray(ordered[cut : array.shape[0] - cut].mean(axis=0))
