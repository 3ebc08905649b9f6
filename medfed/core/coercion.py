"""Matching table columns to a disease spec, and turning raw cell values into typed values."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from medfed.core.catalog import DiseaseSpec, Feature
from medfed.core.errors import InvalidInput

Value = float | str | bool | None

TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "present", "positive", "pos"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "notpresent", "absent", "negative", "neg"})


def normalise_name(name: str) -> str:
    """Case, spacing, punctuation and accents do not matter when matching names."""
    decomposed = unicodedata.normalize("NFKD", name.replace("\ufeff", ""))
    return re.sub(r"[^a-z0-9]", "", decomposed.encode("ascii", "ignore").decode().lower())


def feature_keys(feature: Feature) -> set[str]:
    return {normalise_name(key) for key in (feature.name, feature.label, *feature.aliases)}


class ValueProblem(ValueError):
    """A cell or field value that cannot be used; the message says what is accepted."""


@dataclass(frozen=True)
class ColumnMatch:
    feature_columns: dict[str, int]
    target_column: int | None
    unmatched: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)


def match_columns(spec: DiseaseSpec, header: list[str]) -> ColumnMatch:
    """Map each feature (and the target) to a column index by name and alias."""
    keys = [normalise_name(name) for name in header]
    feature_columns: dict[str, int] = {}
    ambiguous: dict[str, list[str]] = {}
    claimed: set[int] = set()
    for feature in spec.features:
        wanted = feature_keys(feature)
        hits = [index for index, key in enumerate(keys) if key in wanted]
        if len(hits) > 1:
            ambiguous[feature.name] = [header[index] for index in hits]
        if hits:
            feature_columns[feature.name] = hits[0]
            claimed.update(hits)
    target = spec.dataset.target
    target_keys = {normalise_name(k) for k in (target.column, *target.aliases)}
    target_hits = [i for i, key in enumerate(keys) if key in target_keys and i not in claimed]
    target_column = target_hits[0] if target_hits else None
    if target_column is not None:
        claimed.add(target_column)
    return ColumnMatch(
        feature_columns=feature_columns,
        target_column=target_column,
        unmatched=[header[i] for i in range(len(header)) if i not in claimed],
        missing_required=[
            f.name for f in spec.features if f.required and f.name not in feature_columns
        ],
        ambiguous=ambiguous,
    )


def coerce_value(
    feature: Feature, raw: object, missing_markers: frozenset[str] = frozenset({"", "?"})
) -> Value:
    """A typed value, None for missing, or ValueProblem explaining what is accepted."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if text in missing_markers or text.lower() in {"na", "n/a", "null", "none"}:
            return None
        raw = text
    if feature.type == "number":
        return _coerce_number(feature, raw)
    if feature.type == "boolean":
        return _coerce_boolean(feature, raw)
    return _coerce_category(feature, raw)


def _as_float(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueProblem("is true/false, not a number")
    if isinstance(raw, int | float):
        try:
            return float(raw)
        except OverflowError:  # an integer beyond any float: far outside every range
            raise ValueProblem("is too large to be a number here") from None
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            raise ValueProblem(f"{raw[:40]!r} is not a number") from None
    raise ValueProblem(f"has type {type(raw).__name__}, expected a number")


def _coerce_number(feature: Feature, raw: object) -> float | None:
    value = _as_float(raw)
    if not math.isfinite(value):
        raise ValueProblem(f"{raw!r} is not a finite number")
    if feature.zero_is_missing and value == 0:
        return None
    low, high = feature.range or (-math.inf, math.inf)
    if not low <= value <= high:
        raise ValueProblem(f"{value:g} is outside the accepted range")
    return value


def _canonical_code(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    text = str(raw).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if math.isfinite(number) and number.is_integer() else text


def _coerce_boolean(feature: Feature, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    word = normalise_name(_canonical_code(raw))
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueProblem(f"{str(raw)[:40]!r} is not {feature.describe_accepted()}")


def _coerce_category(feature: Feature, raw: object) -> str:
    code = _canonical_code(raw)
    key = normalise_name(code)
    for category in feature.categories:
        if code == category.code or key in {
            normalise_name(a) for a in (category.code, category.label, *category.aliases)
        }:
            return category.code
    raise ValueProblem(f"{str(raw)[:40]!r} is not {feature.describe_accepted()}")


def parse_label(spec: DiseaseSpec, raw: str) -> int | None:
    """1 for the spec's positive outcome, 0 for negative; for a categorical outcome the index
    of its class (by code, label or alias); None for anything else."""
    key = normalise_name(raw)
    for index, option in enumerate(spec.dataset.target.classes):
        if key in {normalise_name(v) for v in (option.code, option.label, *option.aliases)}:
            return index
    if spec.categorical:
        return None
    if key in {normalise_name(v) for v in spec.dataset.target.positive}:
        return 1
    if key in {normalise_name(v) for v in spec.dataset.target.negative}:
        return 0
    return None


def validate_patient(spec: DiseaseSpec, patient: dict[str, Any]) -> dict[str, Value]:
    """Typed values for every feature, or InvalidInput naming the field and what it accepts."""
    known = {feature.name for feature in spec.features}
    unknown = sorted(set(patient) - known)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a {spec.title.lower()} input. Accepted: {', '.join(sorted(known))}.",
            field=f"patient.{unknown[0]}",
        )
    row: dict[str, Value] = {}
    for feature in spec.features:
        raw = patient.get(feature.name)
        if isinstance(raw, list | dict):
            raise InvalidInput(
                f"{feature.label} must be {feature.describe_accepted()}.",
                field=f"patient.{feature.name}",
            )
        try:
            value = coerce_value(feature, raw)
        except ValueProblem as problem:
            raise InvalidInput(
                f"{feature.label}: {problem}. Accepted: {feature.describe_accepted()}.",
                field=f"patient.{feature.name}",
            ) from None
        if value is None and feature.absent_means_no:
            value = False
        if value is None and feature.required:
            raise InvalidInput(
                f"{feature.label} is required: {feature.describe_accepted()}.",
                field=f"patient.{feature.name}",
            )
        row[feature.name] = value
    return row
