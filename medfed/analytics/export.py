"""A released result as flat rows, for CSV or a spreadsheet (pure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

COLUMNS = ("scope", "cell", "label", "statistic", "value", "dp_error", "ci95_low", "ci95_high")


def _cell_rows(scope: str, cell: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    key, label = cell["cell"], cell["label"]
    if cell.get("suppressed"):
        yield (scope, key, label, "suppressed", "", "", "", "")
        return
    error = cell.get("dp_error", cell.get("dp_error_per_bin", ""))
    yield (scope, key, label, "rows", cell.get("rows"), error if "rows" in cell else "", "", "")
    for name in ("mean", "variance", "sd", "missing_rate"):
        if name in cell:
            yield (
                scope,
                key,
                label,
                name,
                cell[name],
                error if name in ("mean", "missing_rate") else "",
                "",
                "",
            )
    for outcome in cell.get("outcomes", ()):
        low, high = outcome["ci95"]
        yield (
            scope,
            key,
            label,
            f"prevalence:{outcome['outcome']}",
            outcome["prevalence"],
            outcome["dp_error"],
            low,
            high,
        )
    for part in cell.get("bins", ()):
        value = "withheld" if part["count"] is None else part["count"]
        yield (scope, key, label, f"bin:{part['from']:g}-{part['to']:g}", value, error, "", "")
    for q, value in cell.get("quantiles", {}).items():
        yield (scope, key, label, f"quantile:{q}", value, "", "", "")


def rows(result: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Network-wide cells first, then each site's (by name), then site differences."""
    for cell in result.get("network", {}).get("cells", ()):
        yield from _cell_rows("network", cell)
    for site, cells in sorted(result.get("sites", {}).items()):
        for cell in cells:
            yield from _cell_rows(site, cell)
    for site, distance in sorted(result.get("site_differences", {}).items()):
        yield (
            site,
            "all",
            "distance from the other sites",
            "total_variation",
            distance,
            "",
            "",
            "",
        )


def to_csv(result: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows(result))
    return out.getvalue()
