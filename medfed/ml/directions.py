"""Which way a model moves the risk with each input, beside what clinical knowledge expects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medfed.core.catalog import DiseaseSpec
from medfed.core.coercion import Value
from medfed.ml.model import DiseaseModel

# A change in the log-odds smaller than this is no direction at all (about 5 % in the odds).
MIN_EFFECT = 0.05


@dataclass(frozen=True)
class Direction:
    feature: str
    label: str
    expected: str  # raises | lowers, from the disease spec
    change: float  # log-odds: one standard deviation above the median, or "no" to "yes"

    @property
    def learned(self) -> str:
        if abs(self.change) < MIN_EFFECT:
            return "little effect"
        return "raises" if self.change > 0 else "lowers"

    @property
    def contradicts(self) -> bool:
        return self.learned in ("raises", "lowers") and self.learned != self.expected


def learned_directions(spec: DiseaseSpec, model: DiseaseModel) -> list[Direction]:
    """For each input with an expected direction: how the model's log-odds move for a typical
    patient (every other input at its typical value) when that input goes up by one standard
    deviation from its median, or from "no" to "yes". An association the model learned from its
    data, which for a non-linear model holds near the typical patient only. For a categorical
    outcome (classes in rising order of risk) the log-odds are those of the highest class
    against the lowest."""
    directions = []
    for feature, stats in zip(spec.features, model.preprocessor.stats, strict=True):
        if feature.expected is None or feature.type == "category":
            continue
        low: Value
        high: Value
        if feature.type == "boolean":
            low, high = False, True
        else:
            low, high = float(stats.fill), float(stats.fill) + stats.scale
        rows: list[dict[str, Value]] = [{feature.name: low}, {feature.name: high}]
        logits = model.logits_from_inputs(model.preprocessor.transform(rows))
        if logits.ndim == 2:  # ordered classes: the log-odds of the highest against the lowest
            logits = logits[:, -1] - logits[:, 0]
        directions.append(
            Direction(feature.name, feature.label, feature.expected, float(np.diff(logits)[0]))
        )
    return directions
