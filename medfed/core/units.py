"""Units of measurement: reading the unit a column or an observation declares, and converting
its values to the unit a disease spec's feature is expressed in (pure; pint does the algebra).

Conversions between a mass and an amount concentration (glucose mg/dL and mmol/L, creatinine
mg/dL and µmol/L) need the analyte's molar mass; a feature that allows them declares it. Every
conversion MedFed applies is affine (value * scale + offset: temperatures have an offset), so it
is found once per column and applied to each value without pint in the loop.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from medfed.core.catalog import Feature

# How people write units in EMR exports and spec files, as pint reads them.
_SPELLINGS = (
    (r"\bmm\s*hg\b", "mmHg"),
    (r"\bcm\s*h2o\b", "cmH2O"),
    (r"[µμ]", "u"),
    (r"²", "**2"),
    (r"³", "**3"),
    (r"°\s*c\b", "degC"),
    (r"°\s*f\b", "degF"),
    (r"\bdeg\s*c\b", "degC"),
    (r"\bdeg\s*f\b", "degF"),
    (r"\bcelsius\b", "degC"),
    (r"\bfahrenheit\b", "degF"),
    (r"\bbpm\b", "1/min"),
    (r"\bbeats?\s*/\s*min\b", "1/min"),
    (r"\byrs?\b", "year"),
    (r"\bmeq\b", "mEq"),
    (r"%", "percent"),
    (r"(?<=[a-z])([23])\b", r"**\1"),  # m2: square metres
    (r"\bin\b", "inch"),
    (r"\blbs?\b", "pound"),
    (r"\bcells\s*/", "1/"),
    (r"\bmillions\s*/", "1e6/"),
    (r"\bthousands\s*/", "1e3/"),
)
# Units that are names of a scale, not a measure: only the same words (or none) are accepted.
NOT_PHYSICAL = frozenset({"count", "vessels", "grade 0-5"})


class UnitProblem(ValueError):
    """A unit that cannot be read or converted; the message says which and what would do."""


@dataclass(frozen=True)
class Conversion:
    """value in `source` * scale + offset = value in `target`."""

    source: str
    target: str
    scale: float
    offset: float

    @property
    def identity(self) -> bool:
        return math.isclose(self.scale, 1.0, rel_tol=1e-12) and self.offset == 0.0

    def apply(self, value: float) -> float:
        return value * self.scale + self.offset

    def describe(self) -> str:
        if self.identity:
            return f"{self.source} (no conversion)"
        offset = (
            f" {'+' if self.offset >= 0 else '-'} {abs(self.offset):.6g}" if self.offset else ""
        )
        return f"{self.source} → {self.target} (times {self.scale:.6g}{offset})"


_LOCK = threading.Lock()
_REGISTRY: Any = None


def _registry() -> Any:
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            import pint

            registry: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
            # An equivalent of a monovalent ion (sodium, potassium) is its mole.
            registry.define("equivalent = mole = Eq")
            _REGISTRY = registry
        return _REGISTRY


def pint_text(unit: str) -> str:
    """A unit as written in a header or spec, spelled the way pint reads it."""
    text = unit.strip()
    for pattern, replacement in _SPELLINGS:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    return text


_UCUM = (
    (r"\{[^}]*\}", ""),  # annotations: {cells}, {#}
    (r"mm\[Hg\]", "mmHg"),
    (r"\[in_i\]", "inch"),
    (r"\[lb_av\]", "pound"),
    (r"\[degF\]", "degF"),
    (r"\bCel\b", "degC"),
    (r"\[IU\]", "U"),
    (r"^a$", "year"),
    (r"^mo$", "month"),
    (r"10\*(\d+)", r"1e\1"),
    (r"^/", "1/"),
)


def from_ucum(code: str) -> str | None:
    """A UCUM unit code (FHIR's Quantity.code) as a unit MedFed reads; None for a pure number."""
    text = code.strip()
    for pattern, replacement in _UCUM:
        text = re.sub(pattern, replacement, text)
    text = text.strip()
    return None if text in ("", "1") else text


def _parse(unit: str) -> tuple[float, Any]:
    """A unit as (scale, pint unit): "millions/µL" is 10⁶ per microlitre."""
    text = pint_text(unit)
    try:
        try:
            quantity = _registry().parse_expression(text)
        except Exception:  # MG/DL: exports shout; units are then read in lower case
            quantity = _registry().parse_expression(text.lower())
        scale = float(getattr(quantity, "magnitude", quantity))
        units = getattr(quantity, "units", None)
    except Exception as error:  # pint raises several kinds for text it cannot read
        raise UnitProblem(f"{unit!r} is not a unit MedFed can read") from error
    if units is None or not math.isfinite(scale) or scale <= 0:
        raise UnitProblem(f"{unit!r} is not a unit MedFed can read")
    return scale, units


def is_unit(text: str) -> bool:
    """Whether `text` reads as a unit (a header's bracketed note may be something else)."""
    if text.strip().lower() in NOT_PHYSICAL:
        return True
    try:
        _parse(text)
    except UnitProblem:
        return False
    return True


def conversion(feature: Feature, declared: str | None) -> Conversion:
    """How values declared in `declared` become values in the feature's own unit; refused with
    the reason when no conversion exists. No declared unit means the feature's own."""
    target = feature.unit
    if declared is None or not declared.strip():
        return Conversion(target or "", target or "", 1.0, 0.0)
    if target is None:
        raise UnitProblem(
            f"{feature.label} has no unit, but the column declares {declared!r}: remove the unit"
        )
    if target.lower() in NOT_PHYSICAL or declared.strip().lower() in NOT_PHYSICAL:
        if declared.strip().lower() == target.lower():
            return Conversion(declared, target, 1.0, 0.0)
        raise UnitProblem(f"{feature.label} is given in {target}, not {declared!r}")
    registry = _registry()
    source_unit, target_unit = _parse(declared), _parse(target)
    try:
        if feature.molar_mass is not None:
            with registry.context("chemistry", mw=feature.molar_mass * registry("g/mol")):
                zero, one = _ends(registry, source_unit, target_unit)
        else:
            zero, one = _ends(registry, source_unit, target_unit)
    except Exception as error:  # pint.DimensionalityError and kin
        hint = (
            ""
            if feature.molar_mass is not None or not feature.alternative_units
            else f" (accepted: {', '.join([target, *feature.alternative_units])})"
        )
        raise UnitProblem(
            f"{declared!r} cannot be converted to {target}, the unit of {feature.label}{hint}"
        ) from error
    return Conversion(declared, target, one - zero, zero)


def _ends(
    registry: Any, source: tuple[float, Any], target: tuple[float, Any]
) -> tuple[float, float]:
    """Values 0 and 1 in the source unit, in the target unit."""
    (source_scale, source_units), (target_scale, target_units) = source, target

    def convert(value: float) -> float:
        moved = registry.Quantity(value * source_scale, source_units).to(target_units)
        return float(moved.magnitude) / target_scale

    return convert(0.0), convert(1.0)


def looks_like(feature: Feature, median: float, declared: str | None) -> str | None:
    """The feature's alternative unit the values seem to be in, if any: their median is
    implausible in the declared unit (outside the feature's typical values, or its range if it
    has none) and plausible in the alternative."""
    bounds = feature.typical or feature.range
    if bounds is None or not feature.alternative_units or not math.isfinite(median):
        return None
    as_declared = conversion(feature, declared).apply(median)
    if bounds[0] <= as_declared <= bounds[1]:
        return None
    declared_text = pint_text(declared or feature.unit or "")
    for candidate in (feature.unit or "", *feature.alternative_units):
        if pint_text(candidate) == declared_text:
            continue
        if bounds[0] <= conversion(feature, candidate).apply(median) <= bounds[1]:
            return candidate
    return None
