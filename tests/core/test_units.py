"""Units: read as EMR exports write them, converted to each feature's own unit by pint."""

from __future__ import annotations

import math

import pytest

from medfed.core import units
from medfed.core.catalog import Feature, get_disease


def _feature(**fields: object) -> Feature:
    base: dict[str, object] = {"name": "x", "label": "X", "type": "number", "required": True}
    base.update(help="-", range=(0, 1000), **fields)
    return Feature.model_validate(base)


def test_glucose_creatinine_and_urea_convert_with_their_molar_masses() -> None:
    glucose = get_disease("diabetes").feature("glucose")
    assert units.conversion(glucose, "mmol/L").apply(5.5) == pytest.approx(99.09, abs=0.01)
    assert units.conversion(glucose, "MG/DL").identity  # exports shout
    kidney = get_disease("kidney")
    creatinine = units.conversion(kidney.feature("serum_creatinine"), "µmol/L")
    assert creatinine.apply(88.4) == pytest.approx(1.0, abs=0.001)  # the textbook 88.4 factor
    assert units.conversion(kidney.feature("blood_urea"), "mmol/L").apply(10) == pytest.approx(
        60.06
    )
    assert units.conversion(kidney.feature("hemoglobin"), "g/L").apply(135) == pytest.approx(13.5)
    assert units.conversion(kidney.feature("sodium"), "mmol/L").identity


def test_temperature_height_and_spellings_convert() -> None:
    celsius = _feature(unit="°C")
    for written in ("°F", "degF", "Fahrenheit"):
        assert units.conversion(celsius, written).apply(98.6) == pytest.approx(37.0)
    height = _feature(unit="cm")
    assert units.conversion(height, "in").apply(70) == pytest.approx(177.8)
    assert units.conversion(height, "inches").apply(1) == pytest.approx(2.54)
    bmi = _feature(unit="kg/m²")
    assert units.conversion(bmi, "kg/m2").identity and units.conversion(bmi, "kg/m^2").identity
    pressure = _feature(unit="mm Hg")
    assert units.conversion(pressure, "mmHg").identity
    assert units.conversion(pressure, "kPa").apply(1) == pytest.approx(7.50062, rel=1e-5)
    cells = _feature(unit="millions/µL")
    assert units.conversion(cells, "10^12/L").apply(4.5) == pytest.approx(4.5)
    assert (
        "times 18.0156"
        in units.conversion(get_disease("diabetes").feature("glucose"), "mmol/L").describe()
    )


@pytest.mark.parametrize(
    ("feature", "declared", "expected"),
    [
        (_feature(unit="mg/dL", label="Plasma glucose"), "mmol/L", "cannot be converted to mg/dL"),
        (_feature(unit="mg/dL"), "handfuls", "not a unit MedFed can read"),
        (_feature(unit="cm"), "kg", "cannot be converted to cm"),
        (_feature(unit=None), "mg", "has no unit"),
        (_feature(unit="count"), "mg", "is given in count"),
    ],
)
def test_units_that_cannot_be_converted_are_refused_with_the_reason(
    feature: Feature, declared: str, expected: str
) -> None:
    with pytest.raises(units.UnitProblem, match=expected):
        units.conversion(feature, declared)


def test_a_median_that_fits_another_unit_is_flagged() -> None:
    glucose = get_disease("diabetes").feature("glucose")
    assert units.looks_like(glucose, 6.1, "mg/dL") == "mmol/L"
    assert units.looks_like(glucose, 6.1, None) == "mmol/L"  # none declared: the feature's own
    assert units.looks_like(glucose, 110.0, "mmol/L") == "mg/dL"
    assert units.looks_like(glucose, 150.0, None) is None  # high, but no other unit fits better
    assert units.looks_like(glucose, 6.1, "mmol/L") is None
    assert units.looks_like(glucose, math.nan, None) is None
    creatinine = get_disease("kidney").feature("serum_creatinine")
    assert units.looks_like(creatinine, 95.0, None) == "µmol/L"


def test_every_alternative_unit_of_every_spec_converts() -> None:
    from medfed.core.catalog import load_catalog

    for spec in load_catalog().values():
        for feature in spec.features:
            for unit in (feature.unit, *feature.alternative_units):
                if feature.type == "number" and unit:
                    units.conversion(feature, unit)
