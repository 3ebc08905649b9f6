"""Which column is which: names and units in headers taken, look-alikes only proposed."""

from __future__ import annotations

import pytest

from medfed.core import columns
from medfed.core.catalog import get_disease

DIABETES = get_disease("diabetes")


def test_a_unit_in_brackets_is_split_off_and_a_note_that_is_no_unit_is_kept() -> None:
    assert columns.split_header("Plasma Glucose (mg/dL)") == ("Plasma Glucose", "mg/dL")
    assert columns.split_header("Creatinine [µmol/L]") == ("Creatinine", "µmol/L")
    assert columns.split_header("Blood Pressure (diastolic)") == (
        "Blood Pressure (diastolic)",
        None,
    )
    assert columns.split_header("Age") == ("Age", None)


def test_names_are_taken_look_alikes_are_proposed_and_nothing_else_is_guessed() -> None:
    header = [
        "PLASMA GLUCOSE (mmol/L)",
        "Blood-Pressure",
        "B.M.I.",
        "Diabetes Pedigree Fn",
        "Age",
        "Favourite colour",
        "Outcome",
    ]
    by_header = {c.header: c for c in columns.propose(DIABETES, header)}
    glucose = by_header["PLASMA GLUCOSE (mmol/L)"]
    assert (glucose.feature, glucose.unit, glucose.confirmed) == ("glucose", "mmol/L", True)
    assert by_header["Blood-Pressure"].feature == "blood_pressure"
    assert by_header["B.M.I."].feature == "bmi"
    pedigree = by_header["Diabetes Pedigree Fn"]
    assert (pedigree.feature, pedigree.confirmed) == ("pedigree", False)
    assert "alike" in pedigree.how
    assert by_header["Favourite colour"].role == columns.IGNORE
    assert by_header["Outcome"].role == columns.TARGET


def test_a_proposal_never_takes_a_feature_another_column_has_by_name() -> None:
    choices = columns.propose(DIABETES, ["glucose", "glucos", "glucse", "bmi", "age", "outcome"])
    assert [c.feature for c in choices if c.role == columns.FEATURE] == ["glucose", "bmi", "age"]


def test_corrections_and_their_refusals() -> None:
    choices = columns.propose(DIABETES, ["Gluc", "BMI", "Age", "Dx"])
    fixed = columns.override(
        DIABETES,
        choices,
        columns={"Gluc": "Plasma glucose", "Dx": "target"},
        unit_of={"Gluc": "mmol/L"},
    )
    assert [(c.role, c.feature, c.unit) for c in fixed] == [
        ("feature", "glucose", "mmol/L"),
        ("feature", "bmi", None),
        ("feature", "age", None),
        ("target", None, None),
    ]
    conversions = columns.check(DIABETES, fixed)
    assert conversions[0] is not None and conversions[0].apply(5.0) == pytest.approx(90.078)
    with pytest.raises(columns.MappingProblem, match="'Gluc' and 'BMI' are both mapped"):
        columns.check(DIABETES, columns.override(DIABETES, fixed, columns={"BMI": "glucose"}))
    with pytest.raises(columns.MappingProblem, match="'Nope' is not a column of the file"):
        columns.override(DIABETES, choices, columns={"Nope": "glucose"})
    with pytest.raises(columns.MappingProblem, match="'colour' is no feature of Diabetes"):
        columns.override(DIABETES, choices, columns={"Gluc": "colour"})
    with pytest.raises(columns.MappingProblem, match="column 'Gluc': 'kg' cannot be converted"):
        columns.check(DIABETES, columns.override(DIABETES, fixed, unit_of={"Gluc": "kg"}))
    with pytest.raises(columns.MappingProblem, match="'Dx' is not mapped to a feature"):
        columns.override(DIABETES, fixed, unit_of={"Dx": "mg/dL"})
    dropped = columns.override(DIABETES, fixed, drop=["Age"])
    assert dropped[2].role == columns.DROP


def test_the_signature_ignores_spelling_but_not_order_or_columns() -> None:
    same = columns.signature(["Plasma Glucose", "BMI"])
    assert columns.signature(["plasma_glucose", "bmi "]) == same
    assert columns.signature(["BMI", "Plasma Glucose"]) != same
    assert columns.signature(["Plasma Glucose", "BMI", "Age"]) != same
