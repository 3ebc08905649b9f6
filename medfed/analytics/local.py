"""One hospital's statistics for a query, from its checked rows (pure).

The vector follows the query's layout. Numbers are clipped to the feature's range before they
are summed, so no row moves a component by more than its stated sensitivity.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from medfed.analytics.noise import NoisePlan, draw
from medfed.analytics.query import (
    COUNT,
    HISTOGRAM,
    MEAN,
    MISSING,
    PREVALENCE,
    QUANTILES,
    Layout,
    Query,
)
from medfed.core.catalog import DiseaseSpec


def _cell_of(spec: DiseaseSpec, query: Query, layout: Layout, row: dict[str, Any]) -> int:
    if query.breakdown is None:
        return 0
    value = row.get(query.breakdown)
    keys = [cell.key for cell in layout.cells]
    if value is None:
        return keys.index("missing") if "missing" in keys else keys.index("no")
    feature = spec.feature(query.breakdown)
    if feature.type == "boolean":
        return keys.index("yes" if value else "no")
    if feature.type == "category":
        return keys.index(str(value))
    edges = query.bands
    position = int(np.searchsorted(edges, float(value), side="right")) - 1
    return min(max(position, 0), len(edges) - 2)  # outside the bands: the nearest band


def statistics(
    spec: DiseaseSpec, query: Query, layout: Layout, rows: Iterable[tuple[dict[str, Any], int]]
) -> np.ndarray:
    """The query's statistics over these (row, label) pairs, exactly (no noise yet)."""
    width = len(layout.components)
    out = np.zeros(layout.size, dtype=np.float64)
    low, high = layout.feature_range or (0.0, 0.0)
    for row, label in rows:
        base = _cell_of(spec, query, layout, row) * width
        if query.kind == COUNT:
            out[base] += 1
        elif query.kind == PREVALENCE:
            out[base] += 1
            if spec.categorical:
                out[base + 1 + int(label)] += 1
            elif label == 1:
                out[base + 1] += 1
        elif query.kind == MISSING:
            out[base] += 1
            assert query.feature is not None
            if row.get(query.feature) is None:
                out[base + 1] += 1
        else:
            assert query.feature is not None
            value = row.get(query.feature)
            if value is None:
                continue
            x = min(max(float(value), low), high)
            if query.kind == MEAN:  # about the middle of the range: half the sensitivity
                centred = x - (low + high) / 2
                out[base : base + 3] += (1.0, centred, centred * centred)
            elif query.kind in (HISTOGRAM, QUANTILES):
                position = int(np.searchsorted(layout.bins, x, side="right")) - 1
                out[base + min(max(position, 0), width - 1)] += 1
    return out


def scaled(layout: Layout, vector: np.ndarray) -> np.ndarray:
    """Each component divided by its sensitivity: one row then moves each by at most 1."""
    return vector / np.tile(np.asarray(layout.sensitivity, dtype=np.float64), len(layout.cells))


def unscaled(layout: Layout, vector: np.ndarray) -> np.ndarray:
    return vector * np.tile(np.asarray(layout.sensitivity, dtype=np.float64), len(layout.cells))


def noisy_answer(
    spec: DiseaseSpec,
    query: Query,
    layout: Layout,
    rows: Iterable[tuple[dict[str, Any], int]],
    plan: NoisePlan,
    rng: np.random.Generator,
    share: float = 1.0,
) -> np.ndarray:
    """What a hospital sends: its scaled statistics with its share of the noise already in, so
    neither the server nor anyone else ever holds its exact figures."""
    exact = scaled(layout, statistics(spec, query, layout, rows))
    sent: np.ndarray = exact + draw(plan, layout.size, rng, share)
    return sent
