"""Patients out of FHIR Bundles (pure): ages on the day, subjects, codes and units."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from medfed.core.catalog import get_disease
from medfed.core.errors import InvalidInput
from medfed.fhir.patients import FEATURE_SYSTEM, patients

HEART = get_disease("heart")


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def _quantity(
    oid: str, system: str, code: str, value: float, unit: str, subject: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
    }  # fmt: skip
    if subject:
        body["subject"] = {"reference": subject}
    return body


def test_age_on_the_day_sex_units_and_medfed_codes() -> None:
    patient = {"resourceType": "Patient", "id": "a", "birthDate": "1970-06-02", "gender": "male"}
    bundle = _bundle(
        patient,
        _quantity(
            "chol", "http://loinc.org", "2093-3", 5.2, "mmol/L"
        ),  # no subject: the only patient
        _quantity("st", FEATURE_SYSTEM, "st_depression", 1.5, "mm"),
    )
    (found,) = patients(HEART, bundle, date(2026, 6, 1))
    assert found.values["age"] == 55  # the birthday is tomorrow
    assert patients(HEART, bundle, date(2026, 6, 2))[0].values["age"] == 56
    assert found.values["sex"] == "male"
    assert found.values["cholesterol"] == pytest.approx(5.2 * 38.665)
    assert found.values["st_depression"] == 1.5
    assert found.basis == ["Observation/chol", "Observation/st", "Patient/a"]
    assert found.conversions == ["Serum cholesterol: mmol/L → mg/dL (times 38.665)"]


def test_with_several_patients_every_observation_names_its_subject() -> None:
    bundle = _bundle(
        {"resourceType": "Patient", "id": "a"},
        {"resourceType": "Patient", "id": "b"},
        _quantity("bp", "http://loinc.org", "8480-6", 120, "mm[Hg]"),
    )
    with pytest.raises(InvalidInput, match="Observation/bp has no subject; with several patients"):
        patients(HEART, bundle, date(2026, 1, 1))


def test_an_observation_without_a_value_is_refused() -> None:
    observation = _quantity("bp", "http://loinc.org", "8480-6", 120, "mm[Hg]")
    del observation["valueQuantity"]
    with pytest.raises(InvalidInput, match="Observation/bp: no value MedFed reads"):
        patients(
            HEART, _bundle({"resourceType": "Patient", "id": "a"}, observation), date(2026, 1, 1)
        )
