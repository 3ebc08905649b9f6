"""Simulated hospitals: natural sites, Dirichlet label skew, per-hospital train/test splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medfed.simulation import partition


def test_natural_split_keeps_each_site_together() -> None:
    sites = ["a", "b", "a", "c", "b"]
    groups = partition.natural(sites)
    assert list(groups) == ["a", "b", "c"]
    assert groups["a"].tolist() == [0, 2]
    with pytest.raises(ValueError, match="no sites"):
        partition.natural([None, None])


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8), st.floats(0.1, 5.0), st.integers(0, 2**31))
def test_dirichlet_split_is_a_partition_with_enough_rows(
    hospitals: int, alpha: float, seed: int
) -> None:
    labels = np.random.default_rng(seed).integers(0, 2, 600)
    groups = partition.dirichlet(labels, hospitals, alpha, np.random.default_rng(seed), min_rows=20)
    joined = np.concatenate(list(groups.values()))
    assert sorted(joined.tolist()) == list(range(600))
    assert min(len(g) for g in groups.values()) >= 20


def test_small_alpha_skews_labels_more_than_large_alpha() -> None:
    labels = np.repeat([0, 1], 1000)

    def spread(alpha: float) -> float:
        groups = partition.dirichlet(labels, 5, alpha, np.random.default_rng(1))
        return float(np.std([labels[g].mean() for g in groups.values()]))

    assert spread(0.1) > spread(100.0)


def test_parse_split_and_train_test() -> None:
    assert partition.parse_split("dirichlet:0.5") == 0.5
    with pytest.raises(ValueError, match=r"dirichlet:0\.5"):
        partition.parse_split("iid")
    labels = np.array([0, 1] * 50)
    train, test = partition.train_test(labels, np.arange(100), 0.34, np.random.default_rng(0))
    assert len(test) == 34 and not set(train) & set(test)
    assert labels[test].mean() == pytest.approx(0.5)
