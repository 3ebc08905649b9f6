"""Reproducible train/test splits and folds: stratified, stratified within sites, or by group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medfed.core.catalog import DiseaseSpec
from medfed.ml.datasets import LabelledData

BASELINE_SEED = 20261122  # the public data's fixed held-out split and the v1.0 baselines


def stratified_split(
    strata: Sequence[object], test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each stratum contributes round(test_fraction * size) rows to the test set."""
    strata_array = np.asarray([str(s) for s in strata])
    test: list[int] = []
    for stratum in sorted(set(strata_array)):
        members = np.flatnonzero(strata_array == stratum)
        rng.shuffle(members)
        test.extend(members[: round(test_fraction * len(members))].tolist())
    test_index = np.sort(np.asarray(test, dtype=np.int64))
    train_index = np.setdiff1d(np.arange(len(strata_array)), test_index)
    return train_index, test_index


def group_split(
    groups: Sequence[object], labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Whole groups (e.g. one person's recordings) go to one side; stratified by group label."""
    group_array = np.asarray([str(g) for g in groups])
    names = sorted(set(group_array))
    group_labels = [round(labels[group_array == name].mean()) for name in names]
    _, test_groups = stratified_split(group_labels, test_fraction, rng)
    chosen = {names[i] for i in test_groups}
    test_mask = np.asarray([g in chosen for g in group_array])
    return np.flatnonzero(~test_mask), np.flatnonzero(test_mask)


def stratified_folds(
    labels: np.ndarray, folds: int, rng: np.random.Generator, groups: Sequence[object] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds (train, validation) stratified by label, keeping groups together when given."""
    if groups is not None:
        group_array = np.asarray([str(g) for g in groups])
        names = sorted(set(group_array))
        unit_labels = np.asarray([round(labels[group_array == n].mean()) for n in names])
    else:
        unit_labels = labels
    assignment = np.empty(len(unit_labels), dtype=np.int64)
    for value in np.unique(unit_labels):
        members = np.flatnonzero(unit_labels == value)
        rng.shuffle(members)
        assignment[members] = np.arange(len(members)) % folds
    if groups is not None:
        fold_of_group = dict(zip(names, assignment, strict=True))
        assignment = np.asarray([fold_of_group[g] for g in group_array])
    result = []
    for fold in range(folds):
        validation = np.flatnonzero(assignment == fold)
        train = np.flatnonzero(assignment != fold)
        result.append((train, validation))
    return result


def baseline_split(
    spec: DiseaseSpec, data: LabelledData, seed: int = BASELINE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The fixed held-out test split of a disease's public data."""
    rng = np.random.default_rng(seed)
    fraction = spec.dataset.split.test_fraction
    if spec.dataset.split.stratify == "group":
        return group_split(data.groups, data.labels, fraction, rng)
    if spec.dataset.split.stratify == "target_within_site":
        strata = [f"{site}:{label}" for site, label in zip(data.sites, data.labels, strict=True)]
        return stratified_split(strata, fraction, rng)
    return stratified_split(data.labels.tolist(), fraction, rng)
