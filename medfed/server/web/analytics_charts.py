"""Charts of released analytics figures (pygal, like the other charts: no script, no inline
style): histograms of each site side by side, prevalence with its 95 % interval, and how far
each site's distribution lies from the others'."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pygal

from medfed.server.web.charts import COMMON, WIDE, _both, _svg


def histogram_chart(
    title: str, labels: Sequence[str], series: dict[str, list[float | None]]
) -> str:
    """Counts per bin, one bar per series (the network, or each site) in each bin; a withheld
    bin has no bar."""

    def draw(width: int) -> str:
        chart = pygal.Bar(
            **COMMON,
            width=width,
            height=320,
            title=title,
            value_formatter=lambda value: f"{value:,.0f}",
            legend_at_bottom=True,
            legend_at_bottom_columns=min(3, max(1, len(series))) if width >= WIDE else 1,
            x_label_rotation=0 if width >= WIDE else 45,
        )
        chart.x_labels = list(labels)
        top = max((c for counts in series.values() for c in counts if c is not None), default=1)
        chart.y_labels = _ticks(float(top), 5 if width >= WIDE else 4)
        for name, counts in series.items():
            chart.add(name, list(counts))
        return _svg(chart, _described(title, labels, series))

    return _both(draw)


def prevalence_chart(
    title: str, labels: Sequence[str], values: Sequence[float], intervals: Sequence[list[float]]
) -> str:
    """Prevalence per cell, each bar with its 95 % confidence interval."""

    def draw(width: int) -> str:
        chart = pygal.Bar(
            **COMMON,
            width=width,
            height=300,
            title=title,
            range=(0.0, 1.0),
            value_formatter=lambda value: f"{value:.0%}",
            show_legend=False,
            x_label_rotation=0 if width >= WIDE else 45,
        )
        chart.x_labels = list(labels)
        chart.y_labels = [0.0, 0.25, 0.5, 0.75, 1.0]
        chart.add(
            "prevalence",
            [
                {"value": v, "ci": {"low": low, "high": high}}
                for v, (low, high) in zip(values, intervals, strict=True)
            ],
        )
        described = ", ".join(
            f"{label} {v:.0%} (95 % CI {low:.0%} to {high:.0%})"
            for label, v, (low, high) in zip(labels, values, intervals, strict=True)
        )
        return _svg(chart, f"{title}: {described}")

    return _both(draw)


def difference_chart(distances: dict[str, float]) -> str:
    """Each site's total variation distance from the rest (0: alike, 1: no overlap)."""

    def draw(width: int) -> str:
        chart = pygal.HorizontalBar(
            **COMMON,
            width=width,
            height=60 + 40 * len(distances),
            title="How different is each site from the others",
            range=(0.0, 1.0),
            value_formatter=lambda value: f"{value:.2f}",
            show_legend=False,
        )
        names = sorted(distances)
        chart.x_labels = names
        chart.y_labels = [0.0, 0.25, 0.5, 0.75, 1.0] if width >= WIDE else [0.0, 0.5, 1.0]
        chart.add("distance", [distances[n] for n in names])
        described = ", ".join(f"{n} {distances[n]:.2f}" for n in names)
        return _svg(chart, f"Total variation distance from the other sites: {described}")

    return _both(draw)


def _described(title: str, labels: Sequence[str], series: dict[str, Any]) -> str:
    parts = []
    for name, counts in series.items():
        shown = ", ".join(
            f"{label} {'withheld' if c is None else f'{c:,.0f}'}"
            for label, c in zip(labels, counts, strict=True)
        )
        parts.append(f"{name}: {shown}")
    return f"{title}. " + "; ".join(parts)


def _ticks(top: float, count: int) -> list[float]:
    """About `count` round steps from 0 to at least `top` (1, 2 or 5 times a power of ten)."""
    raw = max(top, 1.0) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * i for i in range(count + 2) if step * (i - 1) < top]
