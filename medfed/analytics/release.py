"""What is released from a noisy statistics vector (pure post-processing: no privacy cost).

Every figure comes with the half-width of a 95 % interval for the DP noise alone (`dp_error`):
the released figure lies within it of the exact figure over the contributing rows 95 % of the
time. Prevalence also carries a 95 % confidence interval for the population it was sampled from
(the binomial sampling error and the noise together). A cell whose noisy row count is under the
suppression threshold is withheld: only its key and `suppressed: true` are released; so is a
histogram bin under the threshold (its count is null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medfed.analytics.local import unscaled
from medfed.analytics.noise import Z95, NoisePlan
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


@dataclass(frozen=True)
class NoiseOnSum:
    """The noise the released vector carries: the plan, and its variance as a multiple of one
    full draw's (hospitals adding 1/t shares each: contributors / t, never below 1)."""

    plan: NoisePlan
    multiple: float = 1.0

    def sd(self, sensitivity: float) -> float:
        return self.plan.sd * math.sqrt(self.multiple) * sensitivity

    def half_width(self, sensitivity: float) -> float:
        if self.multiple == 1.0:
            return self.plan.half_width_95() * sensitivity
        return Z95 * self.sd(sensitivity)  # a sum of Gaussian shares is Gaussian


def _ratio(top: float, bottom: float, sd_top: float, sd_bottom: float) -> tuple[float, float]:
    """top / bottom and the 95 % half-width of its noise (first-order, independent noise)."""
    value = top / bottom
    sd = math.sqrt(sd_top**2 + (value * sd_bottom) ** 2) / bottom
    return value, Z95 * sd


def _quantile(counts: np.ndarray, edges: tuple[float, ...], q: float) -> float:
    clean = np.clip(counts, 0.0, None)
    total = float(clean.sum())
    if total <= 0:
        return float("nan")
    cumulative = np.concatenate([[0.0], np.cumsum(clean)]) / total
    position = int(np.searchsorted(cumulative, q, side="left"))
    position = min(max(position, 1), len(edges) - 1)
    below, above = cumulative[position - 1], cumulative[position]
    share = 0.0 if above <= below else (q - below) / (above - below)
    return float(edges[position - 1] + share * (edges[position] - edges[position - 1]))


def release(
    query: Query,
    layout: Layout,
    noisy_scaled: np.ndarray,
    noise_on_sum: NoiseOnSum,
    min_cell: int,
) -> list[dict[str, Any]]:
    """One record per cell, suppressed cells reduced to their key."""
    values = unscaled(layout, np.asarray(noisy_scaled, dtype=np.float64))
    width = len(layout.components)
    sens = layout.sensitivity
    out = []
    for index, cell in enumerate(layout.cells):
        part = values[index * width : (index + 1) * width]
        binned = query.kind in (HISTOGRAM, QUANTILES)
        rows = float(part.sum()) if binned else float(part[0])
        record: dict[str, Any] = {"cell": cell.key, "label": cell.label}
        if rows < min_cell:  # post-processing of the noisy count: still within the budget
            out.append({**record, "suppressed": True})
            continue
        record["suppressed"] = False
        count_error = noise_on_sum.half_width(sens[0])
        if query.kind == COUNT:
            record.update(rows=rows, dp_error=count_error)
        elif query.kind == MISSING:
            rate, error = _ratio(part[1], rows, noise_on_sum.sd(sens[1]), noise_on_sum.sd(sens[0]))
            record.update(rows=rows, missing_rate=rate, dp_error=error)
        elif query.kind == PREVALENCE:
            shares = []
            for j, name in enumerate(layout.class_labels or ("positive",)):
                share, error = _ratio(
                    part[1 + j], rows, noise_on_sum.sd(sens[1 + j]), noise_on_sum.sd(sens[0])
                )
                sampling = max(share * (1 - share), 0.0) / rows
                spread = math.sqrt(sampling + (error / Z95) ** 2) * Z95
                shares.append(
                    {
                        "outcome": name,
                        "prevalence": share,
                        "dp_error": error,
                        "ci95": [max(0.0, share - spread), min(1.0, share + spread)],
                    }
                )
            record.update(rows=rows, outcomes=shares)
        elif query.kind == MEAN:
            present = float(part[0])
            offset, error = _ratio(
                part[1], present, noise_on_sum.sd(sens[1]), noise_on_sum.sd(sens[0])
            )
            low, high = layout.feature_range or (0.0, 0.0)
            variance = max(part[2] / present - offset * offset, 0.0)
            record.update(
                rows=present,
                mean=(low + high) / 2 + offset,
                dp_error=error,
                variance=variance,
                sd=math.sqrt(variance),
            )
        else:
            counts = np.asarray(part, dtype=np.float64)
            record.update(rows=float(counts.sum()), dp_error_per_bin=count_error)
            if query.kind == HISTOGRAM:
                record["bins"] = [  # a bin is a cell too: a small one is withheld
                    {"from": a, "to": b, "count": float(c) if c >= min_cell else None}
                    for a, b, c in zip(layout.bins, layout.bins[1:], counts, strict=False)
                ]
            if query.kind == QUANTILES:
                record["quantiles"] = {
                    f"{q:g}": _quantile(counts, layout.bins, q) for q in query.quantiles
                }
        out.append(record)
    return out


def site_differences(histograms: dict[str, np.ndarray]) -> dict[str, float]:
    """How different each site is from the rest: the total variation distance (half the L1
    distance, 0 = the same distribution, 1 = no overlap) between a site's histogram and the
    others' pooled, both normalised after clipping the noise's negative counts to zero."""
    clean = {
        name: np.clip(np.asarray(h, dtype=np.float64), 0.0, None) for name, h in histograms.items()
    }
    if len(clean) < 2:
        raise ValueError("comparing sites needs at least two")
    out = {}
    for name, own in clean.items():
        rest = np.sum([h for other, h in clean.items() if other != name], axis=0)
        if own.sum() <= 0 or rest.sum() <= 0:
            out[name] = float("nan")
            continue
        out[name] = float(0.5 * np.abs(own / own.sum() - rest / rest.sum()).sum())
    return out
