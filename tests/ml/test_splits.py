from __future__ import annotations

import numpy as np

from medfed.ml.splits import group_split, stratified_folds, stratified_split


def test_stratified_split_keeps_class_balance_and_is_reproducible() -> None:
    labels = np.asarray([0] * 60 + [1] * 40)
    train, test = stratified_split(labels.tolist(), 0.25, np.random.default_rng(1))
    assert len(test) == 25 and labels[test].sum() == 10
    assert set(train) | set(test) == set(range(100)) and not set(train) & set(test)
    again, _ = stratified_split(labels.tolist(), 0.25, np.random.default_rng(1))
    assert np.array_equal(train, again)


def test_group_split_never_splits_a_subject() -> None:
    groups = [f"S{i // 6}" for i in range(60)]
    labels = np.asarray([1 if (i // 6) % 3 else 0 for i in range(60)])
    train, test = group_split(groups, labels, 0.25, np.random.default_rng(3))
    assert {groups[i] for i in train}.isdisjoint({groups[i] for i in test})


def test_folds_cover_everything_once_and_respect_groups() -> None:
    groups = [f"S{i // 3}" for i in range(45)]
    labels = np.asarray([(i // 3) % 2 for i in range(45)])
    folds = stratified_folds(labels, 5, np.random.default_rng(0), groups)
    validation = np.concatenate([v for _, v in folds])
    assert sorted(validation.tolist()) == list(range(45))
    for train, valid in folds:
        assert {groups[i] for i in train}.isdisjoint({groups[i] for i in valid})
