"""FedBuff's staleness-weighted step (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medfed.fl.buffered import BufferSettings, buffered_step, staleness_weight


def test_fresh_updates_count_fully_and_stale_ones_less() -> None:
    assert staleness_weight(0) == 1.0
    assert staleness_weight(3) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        staleness_weight(-1)


def test_the_step_is_the_rows_and_staleness_weighted_mean() -> None:
    updates = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    rows = np.array([100, 100, 200])
    staleness = np.array([0, 3, 0])
    step = buffered_step(updates, rows, staleness, server_learning_rate=0.5)
    weights = np.array([100, 50, 200]) / 350
    np.testing.assert_allclose(step, 0.5 * weights @ updates)


def test_same_base_and_rate_one_is_plain_fedavg() -> None:
    rng = np.random.default_rng(0)
    updates, rows = rng.normal(size=(4, 6)), np.array([10, 20, 30, 40])
    step = buffered_step(updates, rows, np.zeros(4, dtype=int), 1.0)
    np.testing.assert_allclose(step, (rows / rows.sum()) @ updates)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (BufferSettings(size=0), "size"),
        (BufferSettings(max_staleness=-1), "max_staleness"),
        (BufferSettings(server_learning_rate=math.inf), "server_learning_rate"),
        (BufferSettings(norm_bound=0), "norm_bound"),
        (BufferSettings(metric="f1"), "metric"),
        (BufferSettings(tolerance=2), "tolerance"),
        (BufferSettings(confidence=1.0), "confidence"),
    ],
)
def test_impossible_settings_are_named(settings: BufferSettings, field: str) -> None:
    assert settings.problems()[0][0] == field
    assert BufferSettings().problems() == []
