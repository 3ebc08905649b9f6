"""SVG charts for the pages, drawn by pygal from plain numbers (no scripts, nothing fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pygal
from pygal.style import Style

RAISES = "#b42318"  # red: pushes the risk up
LOWERS = "#0b5c6b"  # teal: pushes it down
SERIES = ("#0b5c6b", "#c2410c", "#6d28d9", "#15803d", "#a16207")

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#14202b",
    foreground_strong="#14202b",
    foreground_subtle="#d5dde4",
    opacity="1",
    opacity_hover="0.85",
    colors=SERIES,
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    value_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)

COMMON: dict[str, Any] = {
    "style": STYLE,
    "js": [],  # pygal's tooltips script lives on a CDN; hospital networks block it
    "disable_xml_declaration": True,
    "explicit_size": False,
    "print_values": False,
    "margin": 12,
}


def _svg(chart: Any, description: str) -> str:
    svg: str = chart.render(is_unicode=True)
    # A role and a name so screen readers announce the chart; the page also has the numbers.
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_escape(description)}" ', 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def factor_chart(factors: Sequence[tuple[str, float]], title: str = "Key factors") -> str:
    """Horizontal bars of each factor's contribution to the log-odds; red raises the risk."""
    chart = pygal.HorizontalBar(
        **COMMON,
        width=640,
        height=max(160, 46 * len(factors) + 70),
        show_legend=False,
        title=title,
        x_title="Contribution to the log-odds (right: raises the risk, left: lowers it)",
        value_formatter=lambda value: f"{value:+.2f}",
    )
    ordered = list(reversed(factors))  # pygal draws the first bar at the bottom
    chart.x_labels = [label for label, _ in ordered]
    chart.add(
        "contribution",
        [
            {"value": value, "color": RAISES if value > 0 else LOWERS, "label": label}
            for label, value in ordered
        ],
    )
    described = "; ".join(f"{label} {value:+.2f}" for label, value in factors)
    return _svg(chart, f"{title}: {described}")


def version_chart(versions: Sequence[str], series: dict[str, Sequence[float | None]]) -> str:
    """Held-out metrics of each model version, oldest first."""
    chart = pygal.Line(
        **COMMON,
        width=640,
        height=280,
        title="Held-out test metrics by version",
        range=(0.5, 1.0),
        dots_size=4,
        value_formatter=lambda value: f"{value:.3f}",
        legend_at_bottom=True,
    )
    chart.x_labels = list(versions)
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart, "Test metrics by model version: " + ", ".join(versions))


def outcome_chart(
    periods: Sequence[str], accuracy: Sequence[float | None], counts: Sequence[int]
) -> str:
    """Real-world accuracy per period, from the outcomes doctors recorded."""
    chart = pygal.Line(
        **COMMON,
        width=640,
        height=260,
        title="Real-world accuracy (confirmed outcomes)",
        range=(0.0, 1.0),
        dots_size=5,
        value_formatter=lambda value: f"{value:.0%}",
        legend_at_bottom=True,
    )
    chart.x_labels = [
        f"{period} (n={count})" for period, count in zip(periods, counts, strict=True)
    ]
    chart.add("accuracy", list(accuracy))
    return _svg(chart, "Real-world accuracy by period")


def budget_gauge(spent: dict[str, float], cap: float | None) -> str:
    """Privacy budget spent per disease against the cap (a bar per disease when there is no cap)."""
    if cap is None:
        chart = pygal.HorizontalBar(
            **COMMON,
            width=640,
            height=80 + 40 * max(1, len(spent)),
            show_legend=False,
            title="Epsilon spent (no network cap)",
            value_formatter=lambda value: f"ε {value:.2f}",
        )
        chart.x_labels = list(spent)
        chart.add("epsilon", list(spent.values()))
        return _svg(chart, "Privacy budget spent per disease")
    chart = pygal.SolidGauge(
        **COMMON,
        width=640,
        height=260,
        inner_radius=0.7,
        half_pie=True,
        title=f"Epsilon spent of the cap {cap:g}",
        value_formatter=lambda value: f"ε {value:.2f} of {cap:g}",
    )
    for disease, value in spent.items():
        chart.add(disease, [{"value": value, "max_value": cap}])
    return _svg(chart, "Privacy budget spent per disease against the cap")
