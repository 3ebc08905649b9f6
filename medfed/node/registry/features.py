"""A registered admission as the comorbidity risk model's inputs: its ICD-10 codes as Charlson
conditions (ICD-9 codes through their GEMs equivalent), how many diagnoses it has, and the
patient's age when the birth year is recorded. Pure: the registry reads, this derives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medfed.core import charlson
from medfed.core.errors import InvalidInput
from medfed.node.registry.store import Admission, Patient

DISEASE = "comorbidity_risk"
AGES = (18, 110)  # the spec's range for age


@dataclass(frozen=True)
class AdmissionInputs:
    hadm_id: str
    inputs: dict[str, Any]  # feature name -> value, ready for validate_patient
    conditions: list[dict[str, str]]  # each found condition with the codes that showed it
    notes: list[str]  # what could not be used, in words

    def as_dict(self) -> dict[str, Any]:
        return {
            "hadm_id": self.hadm_id,
            "inputs": self.inputs,
            "conditions": self.conditions,
            "notes": self.notes,
        }


def admission_inputs(patient: Patient, admission: Admission) -> AdmissionInputs:
    if not admission.diagnoses:
        raise InvalidInput(
            f"Admission {admission.hadm_id} has no diagnoses yet: add them before scoring it.",
            field="hadm_id",
        )
    notes: list[str] = []
    codes: list[tuple[str, str]] = []  # (as recorded, ICD-10 it counts as)
    for diagnosis in admission.diagnoses:
        code = diagnosis.code
        if code.icd10 is None:
            notes.append(
                f"ICD-{code.version} {code.code} has no ICD-10-CM equivalent in the GEMs: counted "
                "as a diagnosis, not as a condition."
            )
            continue
        codes.append((code.code, code.icd10))
    found = charlson.conditions_of(icd10 for _, icd10 in codes)
    conditions = []
    for condition in charlson.CONDITIONS:
        if found[condition.name]:
            shown_by = [
                recorded if recorded == icd10 else f"{recorded} (as {icd10})"
                for recorded, icd10 in codes
                if charlson.conditions_of([icd10])[condition.name]
            ]
            found_by = ", ".join(shown_by)
            conditions.append({"name": condition.name, "label": condition.label, "codes": found_by})
    inputs: dict[str, Any] = {"diagnosis_count": len(admission.diagnoses), **found}
    year = _year(admission.admitted_on) or _year(admission.recorded_at)
    age = year - patient.birth_year if patient.birth_year is not None and year else None
    if age is None:
        notes.append("No birth year is recorded: the model assumes a typical age and says so.")
    elif not AGES[0] <= age <= AGES[1]:
        notes.append(
            f"Age {age} at admission is outside the ages the model was trained on "
            f"({AGES[0]}-{AGES[1]}): left out, so the model assumes a typical age."
        )
    else:
        inputs["age"] = age
    return AdmissionInputs(admission.hadm_id, inputs, conditions, notes)


def _year(text: str | None) -> int | None:
    return int(text[:4]) if text and text[:4].isdigit() else None
