"""Splitting a public dataset into simulated hospitals (pure: arrays in, index arrays out)."""

from __future__ import annotations

import re

import numpy as np

from medfed.ml.splits import stratified_split


def natural(sites: list[str | None]) -> dict[str, np.ndarray]:
    """One hospital per recorded site, in first-seen order."""
    names = list(dict.fromkeys(site for site in sites if site is not None))
    if len(names) < 2:
        raise ValueError("this dataset has no sites to split by; use --hospitals N instead")
    array = np.asarray(sites, dtype=object)
    return {name: np.flatnonzero(array == name) for name in names}


def dirichlet(
    labels: np.ndarray, hospitals: int, alpha: float, rng: np.random.Generator, min_rows: int = 20
) -> dict[str, np.ndarray]:
    """Label-skewed non-IID split (Hsu et al. 2019): each class is shared among hospitals in
    Dirichlet(alpha) proportions; smaller alpha means more skew. So that every hospital can take
    part, each first receives `min_rows` rows drawn at random, then the rest are shared."""
    if hospitals < 2 or alpha <= 0:
        raise ValueError("need at least 2 hospitals and alpha > 0")
    if hospitals * min_rows > len(labels):
        raise ValueError(f"{len(labels)} rows cannot give {hospitals} hospitals {min_rows} each")
    order = rng.permutation(len(labels))
    reserved, rest = order[: hospitals * min_rows], order[hospitals * min_rows :]
    parts: list[list[int]] = [chunk.tolist() for chunk in np.split(reserved, hospitals)]
    for label in np.unique(labels):
        members = rest[labels[rest] == label]
        shares = rng.dirichlet(np.full(hospitals, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
        for index, chunk in enumerate(np.split(members, cuts)):
            parts[index].extend(chunk.tolist())
    return {f"hospital-{i + 1}": np.sort(np.asarray(p)) for i, p in enumerate(parts)}


def parse_split(text: str) -> float:
    """'dirichlet:0.5' -> 0.5."""
    match = re.fullmatch(r"dirichlet:([0-9.]+)", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a split like dirichlet:0.5")
    return float(match.group(1))


def train_test(
    labels: np.ndarray, indices: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A hospital's own stratified train/test split of its rows (FLamby uses 66/34 per site)."""
    train, test = stratified_split(labels[indices].tolist(), test_fraction, rng)
    return indices[np.sort(train)], indices[np.sort(test)]
