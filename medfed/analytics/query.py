"""A federated-analytics question, checked against the disease's spec (pure).

A query asks one kind of statistic of one disease's rows, optionally of one feature, in cells:
the whole population, or one cell per level of a breakdown (a category or yes/no feature, or
bands of a number feature such as age). What one row can change is bounded by the spec: a number
is clipped to the feature's range before it is summed, so the sensitivities in `layout` hold
for any file a hospital holds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from medfed.analytics import noise
from medfed.core.catalog import DiseaseSpec, Feature
from medfed.core.errors import InvalidInput

COUNT = "count"
PREVALENCE = "prevalence"
MEAN = "mean"  # mean and variance
HISTOGRAM = "histogram"
QUANTILES = "quantiles"
MISSING = "missing"
KINDS = (COUNT, PREVALENCE, MEAN, HISTOGRAM, QUANTILES, MISSING)
NEEDS_FEATURE = {MEAN: "number", HISTOGRAM: "number", QUANTILES: "number", MISSING: None}
DEFAULT_BINS = 20  # quantiles without bins: this many equal bins over the feature's range
DEFAULT_MIN_CELL = 10
MAX_CELLS = 200
MAX_EPSILON = 10.0


@dataclass(frozen=True)
class Query:
    disease: str
    kind: str
    feature: str | None = None
    bins: tuple[float, ...] = ()  # histogram or quantile bin edges, rising
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    breakdown: str | None = None  # a category/boolean feature, or a number feature with bands
    bands: tuple[float, ...] = ()  # band edges for a number breakdown, rising
    epsilon: float = 1.0
    delta: float = 1e-6
    mechanism: str = noise.GAUSSIAN


@dataclass(frozen=True)
class Cell:
    """One level of the breakdown ("all" without one)."""

    key: str
    label: str


@dataclass(frozen=True)
class Layout:
    """Where each cell's statistics sit in the vector a hospital sends, and what one row can
    change: `sensitivity[j]` bounds component j; one row touches `touched` components of one
    cell."""

    cells: tuple[Cell, ...]
    components: tuple[str, ...]  # per cell, in this order
    sensitivity: tuple[float, ...]  # per component
    touched: int
    bins: tuple[float, ...] = ()
    feature_range: tuple[float, float] | None = None
    class_labels: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return len(self.cells) * len(self.components)

    def index(self, cell: int, component: str) -> int:
        return cell * len(self.components) + self.components.index(component)


def _refuse(message: str, where: str) -> InvalidInput:
    return InvalidInput(message, field=where)


def _number(spec: DiseaseSpec, name: str, where: str) -> Feature:
    feature = _feature(spec, name, where)
    if feature.type != "number":
        raise _refuse(
            f"{feature.name} is a {feature.type} feature; this needs a number feature "
            f"({', '.join(f.name for f in spec.features if f.type == 'number')}).",
            where,
        )
    return feature


def _feature(spec: DiseaseSpec, name: str, where: str) -> Feature:
    if name not in spec.feature_names:
        raise _refuse(
            f"{spec.title} has no feature {name!r}; its features are "
            f"{', '.join(sorted(spec.feature_names))}.",
            where,
        )
    return spec.feature(name)


def _edges(values: tuple[float, ...], low: float, high: float, what: str, where: str) -> None:
    if len(values) < 2:
        raise _refuse(f"{what} need at least two edges (one bin), e.g. [{low:g}, {high:g}].", where)
    for before, after in itertools.pairwise(values):
        if not after > before:
            raise _refuse(
                f"{what} must rise strictly: {before:g} then {after:g} would make an empty or "
                "overlapping bin.",
                where,
            )
    if values[-1] <= low or values[0] >= high:
        raise _refuse(
            f"{what} [{values[0]:g}, {values[-1]:g}] miss the feature's range [{low:g}, {high:g}].",
            where,
        )


def _cells(spec: DiseaseSpec, query: Query) -> tuple[Cell, ...]:
    if query.breakdown is None:
        if query.bands:
            raise _refuse("bands are for a number breakdown: name one, or drop bands.", "bands")
        return (Cell("all", "all patients"),)
    feature = _feature(spec, query.breakdown, "breakdown")
    if query.breakdown == query.feature:
        raise _refuse("a feature cannot be broken down by itself.", "breakdown")
    missing = Cell("missing", f"{feature.label} not recorded")
    if feature.type == "category":
        if query.bands:
            raise _refuse(f"{feature.name} has categories; bands are for numbers.", "bands")
        return (*(Cell(c.code, c.label) for c in feature.categories), missing)
    if feature.type == "boolean":
        if query.bands:
            raise _refuse(f"{feature.name} is yes/no; bands are for numbers.", "bands")
        cells = (Cell("yes", f"{feature.label}: yes"), Cell("no", f"{feature.label}: no"))
        return cells if feature.absent_means_no else (*cells, missing)
    low, high = feature.range or (0.0, 0.0)
    _edges(query.bands, low, high, "bands", "bands")
    unit = f" {feature.unit}" if feature.unit else ""
    edges = query.bands
    bands = tuple(
        Cell(
            f"{a:g}-{b:g}",
            f"{feature.label} {a:g} to {'under ' if i < len(edges) - 2 else ''}{b:g}{unit}",
        )
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    )
    return (*bands, missing)


def layout(spec: DiseaseSpec, query: Query) -> Layout:
    """Check the query against the spec and lay out its statistics; InvalidInput says what is
    wrong and how to ask instead."""
    if query.disease != spec.id:
        raise _refuse(f"the query is for {query.disease}, not {spec.id}.", "disease")
    if query.kind not in KINDS:
        raise _refuse(
            f"unknown query kind {query.kind!r}; choose one of {', '.join(KINDS)}.", "kind"
        )
    if query.mechanism not in noise.MECHANISMS:
        raise _refuse(
            f"unknown mechanism {query.mechanism!r}; choose {' or '.join(noise.MECHANISMS)}.",
            "mechanism",
        )
    if not 0 < query.epsilon <= MAX_EPSILON:
        raise _refuse(
            f"epsilon must be above 0 and at most {MAX_EPSILON:g} per query (got {query.epsilon:g}).",
            "epsilon",
        )
    if query.mechanism == noise.GAUSSIAN and not 0 < query.delta < 1e-3:
        raise _refuse("delta must be above 0 and below 0.001 (e.g. 1e-6).", "delta")
    needs = NEEDS_FEATURE.get(query.kind, "none")
    if needs == "none" and query.feature is not None:
        raise _refuse(f"a {query.kind} query takes no feature; drop it.", "feature")
    if needs != "none" and query.feature is None:
        raise _refuse(f"a {query.kind} query needs a feature.", "feature")
    if query.kind not in (HISTOGRAM, QUANTILES) and query.bins:
        raise _refuse("bins are for histogram and quantiles queries.", "bins")
    cells = _cells(spec, query)
    if len(cells) > MAX_CELLS:
        raise _refuse(f"the breakdown makes {len(cells)} cells; at most {MAX_CELLS}.", "bands")
    if query.kind == COUNT:
        return Layout(cells, ("rows",), (1.0,), 1)
    if query.kind == PREVALENCE:
        labels = spec.class_labels if spec.categorical else (spec.positive_label,)
        outcome = (
            tuple(f"class:{i}" for i in range(len(labels))) if spec.categorical else ("positive",)
        )
        # A row adds 1 to the rows and 1 to at most one outcome component.
        return Layout(
            cells, ("rows", *outcome), (1.0,) * (1 + len(outcome)), 2, class_labels=labels
        )
    assert query.feature is not None
    if query.kind == MISSING:
        _feature(spec, query.feature, "feature")
        return Layout(cells, ("rows", "missing"), (1.0, 1.0), 2)
    feature = _number(spec, query.feature, "feature")
    low, high = feature.range or (0.0, 0.0)
    if query.kind == MEAN:
        bound = (high - low) / 2  # values are summed about the range's middle
        return Layout(
            cells,
            ("present", "sum", "sum_squares"),
            (1.0, bound, bound * bound),
            3,
            feature_range=(low, high),
        )
    bins = query.bins
    if not bins:
        if query.kind == HISTOGRAM:
            raise _refuse(f"a histogram needs bins, e.g. edges from {low:g} to {high:g}.", "bins")
        step = (high - low) / DEFAULT_BINS
        bins = (*tuple(low + i * step for i in range(DEFAULT_BINS)), high)
    _edges(bins, low, high, "bins", "bins")
    if query.kind == QUANTILES and not all(0 < q < 1 for q in query.quantiles):
        raise _refuse(
            "quantiles must lie strictly between 0 and 1, e.g. 0.5 for the median.", "quantiles"
        )
    names = tuple(f"bin:{i}" for i in range(len(bins) - 1))
    # A value outside the edges counts in the first or last bin; a row adds 1 to one bin.
    return Layout(cells, names, (1.0,) * len(names), 1, bins=bins, feature_range=(low, high))
