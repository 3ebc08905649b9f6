"""Patient forms generated from a disease spec: fields to draw, and submitted text to check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from medfed.core.catalog import DiseaseSpec, Feature
from medfed.core.coercion import Value, ValueProblem, coerce_value


@dataclass(frozen=True)
class FormField:
    """One input on the page; `name` is what the browser submits."""

    name: str
    feature: Feature
    diseases: tuple[str, ...] = ()
    value: str = ""
    error: str | None = None
    required_for: tuple[str, ...] = ()  # the diseases whose model cannot answer without it

    @property
    def step(self) -> str:
        return "any"

    @property
    def placeholder(self) -> str:
        if self.feature.typical:
            low, high = self.feature.typical
            return f"typical {low:g}" if low == high else f"typical {low:g} to {high:g}"
        return ""


@dataclass
class FormCheck:
    """The typed patient for each disease, and a message for each field that is wrong."""

    patients: dict[str, dict[str, Value]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    filled: dict[str, set[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def fields_for(
    spec: DiseaseSpec,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    values, errors = values or {}, errors or {}
    return [
        FormField(
            f.name,
            f,
            (spec.id,),
            values.get(f.name, ""),
            errors.get(f.name),
            (spec.id,) if f.required else (),
        )
        for f in spec.features
    ]


def _same_input(a: Feature, b: Feature) -> bool:
    return a.type == b.type and a.unit == b.unit and a.categories == b.categories


def union_fields(
    specs: Iterable[DiseaseSpec],
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """One field per distinct input across diseases; a name whose meaning differs stays apart."""
    values, errors = values or {}, errors or {}
    merged: dict[str, FormField] = {}
    for spec in specs:
        for feature in spec.features:
            name = feature.name
            existing = merged.get(name)
            if existing is not None and not _same_input(existing.feature, feature):
                name = f"{spec.id}.{feature.name}"
                existing = merged.get(name)
            needs = (spec.id,) if feature.required else ()
            if existing is None:
                merged[name] = FormField(
                    name, feature, (spec.id,), values.get(name, ""), errors.get(name), needs
                )
            else:
                merged[name] = FormField(
                    name,
                    existing.feature,
                    (*existing.diseases, spec.id),
                    existing.value,
                    existing.error,
                    (*existing.required_for, *needs),
                )
    return list(merged.values())


def group_fields(
    fields: Iterable[FormField], specs: Iterable[DiseaseSpec]
) -> list[tuple[str, list[FormField]]]:
    """The multi-disease form in sections: inputs several models use, asked once, then each
    disease's own inputs; required ones first in each section."""
    fields = list(fields)
    ordered = sorted(fields, key=lambda f: not f.required_for)
    groups = [("Used by several models", [f for f in ordered if len(f.diseases) > 1])]
    for spec in specs:
        own = [f for f in ordered if f.diseases == (spec.id,)]
        if own:
            groups.append((f"{spec.title} only", own))
    return [(title, members) for title, members in groups if members]


def check_fields(fields: Iterable[FormField], submitted: Mapping[str, str]) -> FormCheck:
    """Coerce every submitted value; collect a message per wrong field instead of stopping."""
    check = FormCheck()
    for form_field in fields:
        raw = (submitted.get(form_field.name) or "").strip()
        feature = form_field.feature
        try:
            value = coerce_value(feature, raw)
        except ValueProblem as problem:
            check.errors[form_field.name] = f"{problem}. Enter {feature.describe_accepted()}."
            continue
        for disease in form_field.diseases:
            check.patients.setdefault(disease, {})
            if value is not None:
                check.patients[disease][feature.name] = value
                check.filled.setdefault(disease, set()).add(feature.name)
    return check


def missing_required(spec: DiseaseSpec, patient: Mapping[str, Value]) -> list[Feature]:
    return [f for f in spec.features if f.required and patient.get(f.name) is None]
