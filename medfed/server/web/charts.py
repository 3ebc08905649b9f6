"""SVG charts for the pages, drawn by pygal from plain numbers (no scripts, no inline styles,
nothing fetched)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from functools import cache
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
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=12,
    legend_font_size=13,
    title_font_size=15,
)

COMMON: dict[str, Any] = {
    "style": STYLE,
    "js": [],  # pygal's tooltips script lives on a CDN; hospital networks block it
    "disable_xml_declaration": True,
    "explicit_size": False,
    "print_values": False,
    "margin": 12,
    # pygal shortens labels it thinks too long ("+0…"); every label here is short enough whole.
    "truncate_label": -1,
    "truncate_legend": -1,
}
# Each chart is drawn twice, for a wide and a narrow screen, and CSS shows the one that fits: an
# SVG scaled down to a phone's width would shrink its text below what anyone can read.
WIDE, NARROW = 720, 360


def _both(draw: Callable[[int], str]) -> str:
    return (
        f'<div class="chart-size chart-wide-only">{draw(WIDE)}</div>'
        f'<div class="chart-size chart-narrow-only">{draw(NARROW)}</div>'
    )


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.S)
_CHART_ID = re.compile(r"#chart-[0-9a-f-]+")
# pygal colours a value given its own colour with a style attribute; a class does the same.
_TONE = re.compile(r'class="([^"]*)" style="fill: #([0-9a-f]{6}); stroke: #\2"')
TONES = (RAISES, LOWERS)  # the only colours given per value (factor charts)


def _svg(chart: Any, description: str) -> str:
    svg: str = chart.render(is_unicode=True)
    # Nothing inline, so pages pass a strict Content-Security-Policy: pygal's config script is
    # dropped (no tooltips script is served), its stylesheet is served once as /charts.css, and
    # its style attributes become classes that stylesheet defines.
    svg = _STYLE.sub("", _SCRIPT.sub("", svg))
    svg = _TONE.sub(lambda match: f'class="{match[1]} tone-{match[2]}"', svg)
    svg = svg.replace(' style="opacity: 0"', "")
    if "style=" in svg:
        raise ValueError("a chart kept an inline style; give it a class in stylesheet()")
    # A role and a name so screen readers announce the chart; the page also has the numbers.
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_escape(description)}" ', 1)


@cache
def stylesheet() -> str:
    """pygal's chart stylesheet for every chart on the pages (they share one style), scoped to
    `.pygal-chart`, with the rules that replace pygal's style attributes."""
    chart = pygal.Line(**COMMON)
    for index in range(len(SERIES)):
        chart.add(f"series {index}", [1, 2])
    # The stylesheet comes out of the SVG as XML text: "a &gt; b" must be "a > b" again, or
    # the rules that make the chart's background transparent match nothing (a black chart).
    css = html.unescape("".join(_STYLE.findall(chart.render(is_unicode=True))))
    tones = "".join(
        f".pygal-chart .tone-{colour[1:]}{{fill:{colour};stroke:{colour}}}" for colour in TONES
    )
    return _CHART_ID.sub(".pygal-chart", css) + ".pygal-chart .tooltip{opacity:0}" + tones


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


FACTOR_CAPTION = (
    "Each bar is one input's contribution to the log-odds of the estimate: right of zero "
    "raises the risk, left lowers it."
)


def factor_chart(factors: Sequence[tuple[str, float]], title: str | None = None) -> str:
    """Horizontal bars of each factor's contribution to the log-odds; red raises the risk."""
    return _both(lambda width: _factor_chart(factors, title, width))


def symmetric_ticks(reach: float, count: int) -> list[float]:
    """`count` (odd) evenly spaced round ticks from -reach to +reach, zero in the middle."""
    step = reach / (count // 2)
    magnitude = 10 ** math.floor(math.log10(step))
    nice = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step)
    return [nice * k for k in range(-(count // 2), count // 2 + 1)]


def _factor_chart(factors: Sequence[tuple[str, float]], title: str | None, width: int) -> str:
    ticks = symmetric_ticks(
        max([0.1, *(abs(value) for _, value in factors)]), 3 if width < WIDE else 5
    )
    chart = pygal.HorizontalBar(
        **COMMON,
        width=width,
        height=max(150, 40 * len(factors) + (80 if title else 50)),
        show_legend=False,
        title=title,
        range=(ticks[0], ticks[-1]),
        y_labels=ticks,
        value_formatter=lambda value: f"{value:+.2g}" if value else "0",
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
    return _svg(chart, f"{title or 'Key factors'}: {described}")


def version_chart(versions: Sequence[str], series: dict[str, Sequence[float | None]]) -> str:
    """Held-out metrics of each model version, oldest first."""
    return _both(lambda width: _version_chart(versions, series, width))


def _version_chart(
    versions: Sequence[str], series: dict[str, Sequence[float | None]], width: int
) -> str:
    chart = pygal.Line(
        **COMMON,
        width=width,
        height=320 if width >= WIDE else 300,
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


def training_line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    promoted: Sequence[float | None],
    measure: str,
) -> str:
    """The training line round by round: the candidate's measure, promotions as large dots."""
    return _both(lambda width: _training_line_chart(labels, values, promoted, measure, width))


def _training_line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    promoted: Sequence[float | None],
    measure: str,
    width: int,
) -> str:
    known = [v for v in values if v is not None] or [0.5]
    low = max(0.0, math.floor((min(known) - 0.02) * 20) / 20)
    high = min(1.0, math.ceil((max(known) + 0.02) * 20) / 20)
    chart = pygal.Line(
        **COMMON,
        width=width,
        height=300,
        title=f"Training line: {measure} of each round's model",
        range=(low, high if high > low else low + 0.05),
        dots_size=4,
        value_formatter=lambda value: f"{value:.3f}",
        legend_at_bottom=True,
        legend_at_bottom_columns=2 if width >= WIDE else 1,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, len(labels) // (12 if width >= WIDE else 6)),
    )
    chart.x_labels = list(labels)
    chart.add(measure, list(values))
    chart.add("promoted to doctors", list(promoted), stroke=False, dots_size=8)
    described = ", ".join(
        f"{label} {'—' if v is None else f'{v:.3f}'}"
        for label, v in zip(labels, values, strict=True)
    )
    return _svg(chart, f"Training line ({measure}): {described}")
