from __future__ import annotations

import pytest

from medfed.core import charlson


def _found(*codes: str) -> set[str]:
    return {name for name, flag in charlson.conditions_of(codes).items() if flag}


@pytest.mark.parametrize(
    ("code", "condition"),
    [
        ("I21.4", "myocardial_infarction"),
        ("I25.2", "myocardial_infarction"),
        ("I50.9", "heart_failure"),
        ("I42.7", "heart_failure"),
        ("I63.9", "cerebrovascular"),
        ("F03.90", "dementia"),
        ("J44.9", "chronic_pulmonary"),
        ("E11.9", "diabetes"),
        ("E11.65", "diabetes"),  # ICD-10-CM's longer code falls under its WHO parent E11.6
        ("E11.22", "diabetes_complicated"),
        ("N18.6", "renal"),
        ("C34.90", "cancer"),
        ("C78.00", "metastatic"),
        ("K72.90", "severe_liver"),
        ("B20", "hiv"),
    ],
)
def test_quan_icd10_codes_map_to_their_charlson_condition(code: str, condition: str) -> None:
    assert _found(code) == {condition}


def test_codes_outside_the_table_and_near_misses_count_for_nothing() -> None:
    assert _found("I10", "J18.9", "C44.91", "I42.1", "K70.41") == {"severe_liver"}  # K70.4 only
    assert _found("C44.91") == set()  # skin cancer other than melanoma is excluded
    assert _found("I42.1") == set()  # obstructive hypertrophic cardiomyopathy is not in Quan's list


def test_the_index_weights_conditions_and_counts_the_graver_form_only() -> None:
    assert charlson.index(charlson.conditions_of(["I50.9", "J44.9"])) == 2
    assert charlson.index(charlson.conditions_of(["E11.9", "E11.22"])) == 2  # not 1 + 2
    assert charlson.index(charlson.conditions_of(["C34.90", "C78.00"])) == 6  # not 2 + 6
    assert charlson.index(charlson.conditions_of(["K74.60", "K72.90"])) == 3
    assert charlson.index(charlson.conditions_of(["B20", "N18.6", "G81.91"])) == 10
    assert charlson.index(charlson.conditions_of([])) == 0


def test_the_table_notation_expands_ranges_with_their_width() -> None:
    assert charlson._expand("I43 I425-I427 C00-C02 F00-F03") == (
        "I43", "I425", "I426", "I427", "C00", "C01", "C02", "F00", "F01", "F02", "F03",
    )  # fmt: skip
    cancer = next(c for c in charlson.CONDITIONS if c.name == "cancer")
    assert "C43" in cancer.prefixes and "C44" not in cancer.prefixes and len(cancer.prefixes) == 83
