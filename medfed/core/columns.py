"""Which column of a hospital's export is which feature, in which unit (pure).

A header is matched tolerant of case, spacing, punctuation and accents, and of a unit written
in parentheses or brackets after the name ("Plasma Glucose (mg/dL)", "Creatinine [µmol/L]").
Names and aliases from the disease spec are taken as they are; a header that only resembles
one is *proposed*, never applied, until a person confirms it (a saved mapping).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from medfed.core import units
from medfed.core.catalog import DiseaseSpec
from medfed.core.coercion import feature_keys, normalise_name

FEATURE = "feature"
TARGET = "target"
IGNORE = "ignore"  # not used (no feature of its name)
DROP = "drop"  # a person said MedFed must not read it (as `--drop-column`)
ROLES = (FEATURE, TARGET, IGNORE, DROP)
# How alike (difflib's ratio on normalised names) a header must be to be proposed.
PROPOSE_AT = 0.75
_BRACKETED = re.compile(r"^(?P<name>.*?)\s*[\(\[](?P<inner>[^\(\)\[\]]*)[\)\]]\s*$")
# A unit after the name without brackets: "Glucose mmol/L", "Creatinine, umol/L", "BMI_kg/m2".
_TRAILING = re.compile(r"^(?P<name>.+?)[\s,_]+(?P<inner>[^\s,_]+)\s*$")
PREFIX_SCORE = 0.9  # a header that starts with a feature's name (4 letters or more)


class MappingProblem(ValueError):
    """A mapping that cannot be used; the message names the column and says what would do."""


@dataclass(frozen=True)
class Choice:
    """What one column is: a feature (with the unit its values are in), the outcome, or nothing
    MedFed uses. `confirmed` is False for a proposal nobody has accepted yet."""

    header: str
    role: str
    feature: str | None = None
    unit: str | None = None  # declared; None: the feature's own unit
    how: str = ""
    confirmed: bool = True
    score: float = 1.0  # how alike a proposal's header is to the feature's names

    def as_dict(self) -> dict[str, object]:
        return {
            "column": self.header,
            "role": self.role,
            "feature": self.feature,
            "unit": self.unit,
            "how": self.how,
            "confirmed": self.confirmed,
        }


def split_header(header: str) -> tuple[str, str | None]:
    """A header's name and the unit written after it (in brackets, or after a space, comma or
    underscore), if what is there reads as a unit."""
    for pattern in (_BRACKETED, _TRAILING):
        found = pattern.match(header.strip())
        if found is None or not found.group("name").strip():
            continue
        inner = found.group("inner").strip()
        if inner and not inner.isdigit() and units.is_unit(inner):
            return found.group("name"), inner
    return header, None


def _converts(spec: DiseaseSpec, feature: str, unit: str | None) -> bool:
    """Whether `unit` can be a unit of this feature ("2h" after "Glucose" is a note, not one)."""
    if unit is None:
        return True
    try:
        units.conversion(spec.feature(feature), unit)
    except units.UnitProblem:
        return False
    return True


def signature(header: Iterable[str]) -> str:
    """The shape of a file's columns: the same for every later export of the same layout."""
    names = "\x1f".join(normalise_name(name) for name in header)
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def propose(spec: DiseaseSpec, header: list[str]) -> list[Choice]:
    """Each column's match by name or alias (confirmed), or its closest feature (a proposal),
    or nothing. A feature two columns match by name is left to the caller to refuse."""
    targets = {
        normalise_name(key) for key in (spec.dataset.target.column, *spec.dataset.target.aliases)
    }
    keys = {feature.name: feature_keys(feature) for feature in spec.features}
    choices = []
    for column in header:
        whole = normalise_name(column)
        name, unit = split_header(column)
        bare = normalise_name(name)
        if not whole:
            choices.append(Choice(column, IGNORE, how="empty header"))
            continue
        exact = next((f for f, k in keys.items() if whole in k), None)
        if exact is not None:
            choices.append(Choice(column, FEATURE, exact, None, "name"))
            continue
        named = next((f for f, k in keys.items() if bare in k), None)
        if named is not None and _converts(spec, named, unit):
            choices.append(Choice(column, FEATURE, named, unit, "name, unit from the header"))
            continue
        if whole in targets or bare in targets:
            choices.append(Choice(column, TARGET, how="outcome column"))
            continue
        noted = _BRACKETED.match(column.strip())
        plain = normalise_name(noted.group("name")) if noted else ""
        by_name = next((f for f, k in keys.items() if plain and plain in k), None)
        if by_name is not None and noted is not None:
            note = noted.group("inner").strip()
            choices.append(
                Choice(
                    column,
                    FEATURE,
                    by_name,
                    None,
                    f"name; '{note}' is no unit MedFed reads",
                    confirmed=False,
                    score=0.99,
                )
            )
            continue
        closest, score = _closest(bare, keys)
        if closest is not None and not _converts(spec, closest, unit):
            unit = None
        if closest is not None:
            choices.append(
                Choice(
                    column,
                    FEATURE,
                    closest,
                    unit,
                    f"{score:.0%} alike",
                    confirmed=False,
                    score=score,
                )
            )
        else:
            choices.append(Choice(column, IGNORE, how="no feature of this name"))
    return _one_each(choices)


def _closest(name: str, keys: dict[str, set[str]]) -> tuple[str | None, float]:
    """The feature whose name or alias the header most resembles: its similarity, or a header
    that starts with the name (\"glucosefasting\")."""
    best, best_score = None, 0.0
    for feature, names in keys.items():
        for key in names:
            score = difflib.SequenceMatcher(None, name, key).ratio()
            if len(key) >= 4 and name.startswith(key):
                score = max(score, PREFIX_SCORE)
            if score > best_score:
                best, best_score = feature, score
    return (best, best_score) if best_score >= PROPOSE_AT else (None, best_score)


def _one_each(choices: list[Choice]) -> list[Choice]:
    """A proposal for a feature another column has by name, or that another proposal
    resembles more closely, is dropped."""
    best: dict[str | None, Choice] = {}
    for choice in choices:
        if choice.role == FEATURE:
            held = best.get(choice.feature)
            if held is None or (held.confirmed, held.score) < (choice.confirmed, choice.score):
                best[choice.feature] = choice
    return [
        replace(c, role=IGNORE, feature=None, unit=None, how="no feature of this name", score=0)
        if c.role == FEATURE and not c.confirmed and best[c.feature] is not c
        else c
        for c in choices
    ]


def override(
    spec: DiseaseSpec,
    choices: list[Choice],
    *,
    columns: dict[str, str] | None = None,
    unit_of: dict[str, str] | None = None,
    drop: Iterable[str] = (),
) -> list[Choice]:
    """A person's corrections: `columns` maps a header to a feature name (or "target"),
    `unit_of` a header to the unit its values are in, `drop` headers MedFed must not read."""
    by_header = {normalise_name(c.header): i for i, c in enumerate(choices)}
    result = list(choices)

    def position(header: str) -> int:
        index = by_header.get(normalise_name(header))
        if index is None:
            raise MappingProblem(
                f"{header!r} is not a column of the file (its columns: "
                f"{', '.join(repr(c.header) for c in choices)})"
            )
        return index

    for header, wanted in (columns or {}).items():
        index = position(header)
        if normalise_name(wanted) == TARGET:
            result[index] = Choice(result[index].header, TARGET, how="yours")
            continue
        feature = next(
            (f for f in spec.features if normalise_name(wanted) in feature_keys(f)), None
        )
        if feature is None:
            raise MappingProblem(
                f"column {header!r}: {wanted!r} is no feature of {spec.title} (its features: "
                f"{', '.join(f.name for f in spec.features)}; or 'target' for the outcome)"
            )
        unit = result[index].unit if result[index].feature == feature.name else None
        result[index] = Choice(result[index].header, FEATURE, feature.name, unit, "yours")
    for header, unit in (unit_of or {}).items():
        index = position(header)
        if result[index].role != FEATURE:
            raise MappingProblem(f"column {header!r} is not mapped to a feature: map it first")
        result[index] = replace(result[index], unit=unit or None, how="yours", confirmed=True)
    for header in drop:
        index = position(header)
        result[index] = Choice(result[index].header, DROP, how="yours: left out")
    return result


def confirm(choices: list[Choice]) -> list[Choice]:
    """Every proposal accepted as proposed."""
    return [c if c.confirmed else replace(c, confirmed=True) for c in choices]


def lacking(spec: DiseaseSpec, choices: list[Choice]) -> str | None:
    """What a mapping to be saved leaves out that every file needs, if anything."""
    mapped = {c.feature for c in choices if c.role == FEATURE}
    missing = [f.label for f in spec.features if f.required and f.name not in mapped]
    if missing:
        return f"no column is mapped to {', '.join(missing)} (required): map one"
    if not any(c.role == TARGET for c in choices):
        return "no column is mapped to the outcome: map one to 'target'"
    return None


def check(spec: DiseaseSpec, choices: list[Choice]) -> list[units.Conversion | None]:
    """Refuse a mapping that cannot be applied; each column's unit conversion (None if the
    column is not a feature)."""
    seen: dict[str, str] = {}
    for choice in choices:
        if choice.role not in ROLES:
            raise MappingProblem(f"column {choice.header!r}: unknown role {choice.role!r}")
        key = choice.feature if choice.role == FEATURE else choice.role
        if choice.role in (IGNORE, DROP) or key is None:
            continue
        if key in seen:
            what = "the outcome" if key == TARGET else spec.feature(key).label
            raise MappingProblem(
                f"columns {seen[key]!r} and {choice.header!r} are both mapped to {what}: "
                "map one of them to something else or ignore it"
            )
        seen[key] = choice.header
    conversions: list[units.Conversion | None] = []
    for choice in choices:
        if choice.role != FEATURE or choice.feature is None:
            conversions.append(None)
            continue
        feature = spec.feature(choice.feature)
        if feature.type != "number" and choice.unit:
            raise MappingProblem(
                f"column {choice.header!r}: {feature.label} is not a measurement; remove its unit"
            )
        try:
            conversions.append(units.conversion(feature, choice.unit))
        except units.UnitProblem as problem:
            raise MappingProblem(f"column {choice.header!r}: {problem}") from None
    return conversions
