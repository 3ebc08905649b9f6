"""Plain-language sentences for the factors behind a prediction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from medfed.core.catalog import Feature
from medfed.core.coercion import Value
from medfed.ml.preprocess import FeatureStats


def describe_value(feature: Feature, value: Value) -> str:
    if value is None:
        return "not given"
    if feature.type == "boolean":
        return "yes" if value else "no"
    if feature.type == "category":
        for category in feature.categories:
            if category.code == value:
                return category.label
        return str(value)
    unit = f" {feature.unit}" if feature.unit and feature.unit != "count" else ""
    return f"{float(value):g}{unit}"


def relation_to_typical(stats: FeatureStats, value: Value) -> str | None:
    if (
        stats.kind != "number"
        or value is None
        or stats.typical_low is None
        or stats.typical_high is None
    ):
        return None
    number = float(value)
    if number > stats.typical_high:
        return "above typical"
    if number < stats.typical_low:
        return "below typical"
    return "within the typical range"


def against_expectation(
    feature: Feature, stats: FeatureStats, value: Value, contribution: float
) -> bool:
    """True when this input moves this patient's risk the other way than clinical knowledge
    expects (say, high cholesterol lowering it): the model learned an association from its
    data that a doctor should not read as advice."""
    if feature.expected is None or value is None or abs(contribution) < MIN_CONTRIBUTION:
        return False
    if feature.type == "boolean":
        deviation = 1.0 if value else -1.0
    elif feature.type == "number":
        # Contributions are measured from the average patient; near the average an input's sign
        # says little (and a non-linear model mixes in the other inputs), so only a value at
        # least half a standard deviation away is judged.
        deviation = float(value) - stats.mean
        if abs(deviation) < 0.5 * stats.scale:
            return False
    else:
        return False
    expected_sign = 1.0 if feature.expected == "raises" else -1.0
    return bool(np.sign(contribution) != expected_sign * np.sign(deviation))


MIN_CONTRIBUTION = 0.05  # log-odds; a smaller push is no direction worth a warning
AGAINST_EXPECTATION = (
    " in this model, against clinical expectation (a pattern in its training data, not a cause "
    "and not advice; see the model card)"
)


def factor_sentence(
    feature: Feature,
    stats: FeatureStats,
    value: Value,
    contribution: float,
    *,
    effect_on: str = "the risk",
) -> str:
    """For example: 'Plasma glucose 180 mg/dL (above typical) raises the risk'. A categorical
    model's factors push one class: `effect_on` is then 'the chance of Medium'."""
    effect = "raises" if contribution > 0 else "lowers"
    if value is None:
        return f"{feature.label} not given (assumed typical) slightly {effect} {effect_on}"
    relation = relation_to_typical(stats, value)
    shown = describe_value(feature, value)
    subject = (
        f"{feature.label}: {shown}" if feature.type != "number" else f"{feature.label} {shown}"
    )
    if relation:
        subject += f" ({relation})"
    against = effect_on == "the risk" and against_expectation(feature, stats, value, contribution)
    return f"{subject} {effect} {effect_on}{AGAINST_EXPECTATION if against else ''}"


MIN_SIMILAR = 5  # fewer held-out patients in a range than this say nothing about it


def similar_patients(
    calibration: Mapping[str, Any] | None,
    probability: float,
    outcome: str,
    *,
    pooled_classes: bool = False,
) -> str:
    """What the estimate meant for held-out patients who got a similar one (the calibration
    table of the model card), in words: a doctor's reading of how far to trust it. A categorical
    model's table pools its classes one against the rest: every held-out patient gives one
    estimate per class, and `probability` is the predicted class's."""
    for entry in (calibration or {}).get("bins", ()):
        low, high = (float(edge) for edge in str(entry["bin"]).split("-"))
        if low <= probability < high or (high >= 1.0 and probability >= low):
            count = int(entry["count"])
            span = f"{low * 100:.0f} % and {high * 100:.0f} %"
            if count < MIN_SIMILAR:
                return (
                    f"Only {count} held-out patient(s) got an estimate between {span}: too few "
                    "to say how often estimates in this range were right."
                )
            observed = float(entry["observed_rate"])
            if pooled_classes:
                return (
                    f"Of {count} held-out class estimates also between {span} (each patient "
                    f"gives one per class), {round(observed * count)} ({observed * 100:.0f} %) "
                    "named the patient's actual class."
                )
            return (
                f"Of {count} held-out patients whose estimate was also between {span}, "
                f"{round(observed * count)} ({observed * 100:.0f} %) had {outcome}."
            )
    return "This version's model card has no calibration table for estimates in this range."
