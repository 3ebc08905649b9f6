"""A registered admission becomes the comorbidity model's inputs at the node."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfed.core.catalog import get_disease
from medfed.core.coercion import validate_patient
from medfed.core.errors import InvalidInput
from medfed.node.registry.features import admission_inputs
from medfed.node.registry.store import Registry


def test_codes_become_conditions_with_icd9_through_its_equivalent(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "node")
    ada = registry.register("Ada Lovelace", "MRN-1", 1950, "female")
    registry.admit(ada.secure_id, "1001", "2026-03-14")
    for seq, (code, version) in enumerate(
        [("C78.00", 10), ("428.0", 9), ("C34.90", 10), ("I10", 10)], start=1
    ):
        registry.diagnose("1001", code, version, seq)
    patient, (stay,) = registry.patient(ada.secure_id)
    found = admission_inputs(patient, stay)
    assert found.inputs["age"] == 76 and found.inputs["diagnosis_count"] == 4
    named = {c["name"]: c["codes"] for c in found.conditions}
    assert named == {
        "heart_failure": "428.0 (as I50.9)",
        "cancer": "C34.90",
        "metastatic": "C78.00",
    }
    assert found.notes == []
    row = validate_patient(get_disease("comorbidity_risk"), found.inputs)
    assert row["metastatic"] is True and row["renal"] is False


def test_what_cannot_be_used_is_said_and_an_empty_admission_is_refused(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "node")
    child = registry.register("Young Patient", "MRN-2", 2015)
    unknown_age = registry.register("No Year", "MRN-3")
    registry.admit(child.secure_id, "2001", "2026-01-02")
    registry.admit(unknown_age.secure_id, "3001")
    registry.diagnose("2001", "J45.909", 10, 1)
    patient, (stay,) = registry.patient(child.secure_id)
    found = admission_inputs(patient, stay)
    assert "age" not in found.inputs and "outside the ages" in found.notes[0]
    patient, (stay,) = registry.patient(unknown_age.secure_id)
    with pytest.raises(InvalidInput, match="no diagnoses yet"):
        admission_inputs(patient, stay)
