from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medfed.fl import aggregate

vectors = arrays(np.float64, st.integers(1, 20), elements=st.floats(-100, 100))


@given(vectors, st.lists(st.integers(1, 10_000), min_size=1, max_size=12))
def test_fedavg_of_identical_updates_is_that_update(update: np.ndarray, weights: list[int]) -> None:
    stacked = np.tile(update, (len(weights), 1))
    assert np.allclose(aggregate.weighted_mean(stacked, np.asarray(weights)), update)


@given(st.integers(2, 10), st.integers(1, 15), st.data())
def test_weighted_mean_equals_the_sum_form_secure_aggregation_returns(
    hospitals: int, width: int, data: st.DataObject
) -> None:
    updates = data.draw(arrays(np.float64, (hospitals, width), elements=st.floats(-10, 10)))
    weights = np.asarray(
        data.draw(st.lists(st.integers(1, 500), min_size=hospitals, max_size=hospitals)),
        dtype=float,
    )
    expected = sum(w * u for w, u in zip(weights, updates, strict=True)) / weights.sum()
    assert np.allclose(aggregate.weighted_mean(updates, weights), expected)
    assert np.allclose(aggregate.mean_from_sum(weights @ updates, weights.sum()), expected)


def test_robust_rules_ignore_a_wild_update() -> None:
    honest = np.random.default_rng(0).normal(0, 0.1, size=(6, 4))
    attacked = np.vstack([honest, np.full((1, 4), 1e6)])
    assert np.all(np.abs(aggregate.coordinate_median(attacked)) < 1)
    assert np.all(np.abs(aggregate.trimmed_mean(attacked, 0.2)) < 1)
    assert np.all(np.abs(aggregate.weighted_mean(attacked, np.ones(7))) > 1e4), (
        "the mean is not robust"
    )


def test_bad_shapes_and_weights_are_refused() -> None:
    with pytest.raises(ValueError):
        aggregate.weighted_mean(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError):
        aggregate.weighted_mean(np.ones((2, 3)), np.zeros(2))
    with pytest.raises(ValueError):
        aggregate.trimmed_mean(np.ones((2, 3)), 0.5)
