"""Plain-language sentences for the factors behind a prediction."""

from __future__ import annotations

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


def factor_sentence(
    feature: Feature, stats: FeatureStats, value: Value, contribution: float
) -> str:
    """For example: 'Plasma glucose 180 mg/dL (above typical) raises the risk'."""
    effect = "raises" if contribution > 0 else "lowers"
    if value is None:
        return f"{feature.label} not given (assumed typical) slightly {effect} the risk"
    relation = relation_to_typical(stats, value)
    shown = describe_value(feature, value)
    subject = (
        f"{feature.label}: {shown}" if feature.type != "number" else f"{feature.label} {shown}"
    )
    if relation:
        subject += f" ({relation})"
    return f"{subject} {effect} the risk"
