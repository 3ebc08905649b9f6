from __future__ import annotations

import pytest

from medfed.core.catalog import get_disease
from medfed.core.coercion import ValueProblem, coerce_value, match_columns, normalise_name


def test_column_names_match_through_aliases_ignoring_case_spacing_punctuation() -> None:
    spec = get_disease("diabetes")
    header = ["Blood Pressure", "PlGlcConc", "B.M.I.", "AGE ", "Outcome", "favourite colour"]
    match = match_columns(spec, header)
    assert match.feature_columns == {"blood_pressure": 0, "glucose": 1, "bmi": 2, "age": 3}
    assert match.target_column == 4
    assert match.unmatched == ["favourite colour"]
    assert match.missing_required == []


def test_missing_required_and_ambiguous_columns_are_reported() -> None:
    spec = get_disease("diabetes")
    match = match_columns(spec, ["bp", "BloodP", "age"])
    assert match.ambiguous == {"blood_pressure": ["bp", "BloodP"]}
    assert set(match.missing_required) == {"glucose", "bmi"}


def test_numbers_ranges_and_disguised_zeros() -> None:
    glucose = get_disease("diabetes").feature("glucose")
    assert coerce_value(glucose, " 148 ") == 148.0
    assert coerce_value(glucose, "0") is None, "Pima zeros are missing values"
    assert coerce_value(glucose, "?") is None
    for bad in ("999", "abc", "inf", "NaN", True):
        with pytest.raises(ValueProblem):
            coerce_value(glucose, bad)


def test_categories_and_booleans_accept_codes_labels_and_aliases() -> None:
    heart = get_disease("heart")
    chest = heart.feature("chest_pain")
    assert coerce_value(chest, "4.0") == "4"
    assert coerce_value(chest, "Typical Angina") == "1"
    assert coerce_value(chest, 2) == "2"
    with pytest.raises(ValueProblem, match="one of"):
        coerce_value(chest, "5")
    kidney = get_disease("kidney")
    assert coerce_value(kidney.feature("diabetes_mellitus"), "\tyes") is True
    assert coerce_value(kidney.feature("pus_cell_clumps"), "notpresent") is False
    assert coerce_value(kidney.feature("pus_cells"), "abnormal") == "abnormal"


def test_name_normalisation_drops_bom_and_accents() -> None:
    assert normalise_name("\ufeffHémoglobine (g/dL)") == "hemoglobinegdl"
