"""FHIR R4 in and out of the predict endpoint: Bundles built with fhir.resources, answered with
RiskAssessments that fhir.resources accepts, scored exactly as the same patient in JSON."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.server.db.tables import Prediction
from tests.factories import make_logged_in

FHIR = {"Content-Type": "application/fhir+json"}
UCUM = "http://unitsofmeasure.org"


def _born(age: int) -> str:
    return date(date.today().year - age, 1, 1).isoformat()  # exactly `age` years old today


def _observation(oid: str, patient: str, loinc: str, value: float, unit: str) -> Observation:
    return Observation.model_validate(
        {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": f"Patient/{patient}"},
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        }
    )


def _bundle(*resources: Any) -> dict[str, Any]:
    bundle = Bundle(type="collection", entry=[BundleEntry(resource=r) for r in resources])
    return json.loads(bundle.model_dump_json(exclude_none=True))


def _diabetic(pid: str, glucose_mmol: float) -> list[Any]:
    return [
        Patient.model_validate(
            {"resourceType": "Patient", "id": pid, "birthDate": _born(29), "gender": "female"}
        ),
        _observation(f"{pid}-glu", pid, "2345-7", glucose_mmol, "mmol/L"),
        _observation(f"{pid}-bmi", pid, "39156-5", 32, "kg/m2"),
        _observation(f"{pid}-bp", pid, "8462-4", 72, "mm[Hg]"),
        _observation(f"{pid}-hr", pid, "8867-4", 80, "/min"),  # heart rate: not used here
    ]


def _post(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], disease: str = "diabetes"
) -> Any:
    return client.post(
        f"/api/v1/models/{disease}/predict", content=json.dumps(body), headers={**headers, **FHIR}
    )


def test_a_bundle_built_with_a_fhir_library_gets_valid_risk_assessments(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    before = trained_db.scalar(select(func.count()).select_from(Prediction))
    trained_db.rollback()  # on SQLite an open transaction would hold the server's writes
    answer = _post(
        trained_client, doctor.headers, _bundle(*_diabetic("p1", 11.0), *_diabetic("p2", 5.0))
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(answer.json())  # the library accepts what came back
    first, second = (entry.resource for entry in bundle.entry)
    assert first.get_resource_type() == "RiskAssessment" and first.status == "final"
    assert first.subject.reference == "Patient/p1" and second.subject.reference == "Patient/p2"
    assert {b.reference for b in first.basis} == {
        "Patient/p1",
        "Observation/p1-glu",
        "Observation/p1-bmi",
        "Observation/p1-bp",
    }
    assert "v1.0" in first.method.text
    notes = [n.text for n in first.note]
    assert "Plasma glucose: mmol/L → mg/dL (times 18.0156)" in notes
    assert any("Observation/p1-hr" in n and "not used" in n for n in notes)
    # The same patient as MedFed's JSON: the same probability and band.
    same = {"glucose": 11.0 * 18.0156, "bmi": 32, "blood_pressure": 72, "age": 29}
    plain = trained_client.post(
        "/api/v1/models/diabetes/predict", json={"patient": same}, headers=doctor.headers
    ).json()
    (prediction,) = first.prediction
    assert float(prediction.probabilityDecimal) == pytest.approx(plain["probability"], abs=1e-6)
    assert prediction.qualitativeRisk.coding[0].code == plain["risk_band"]
    assert float(second.prediction[0].probabilityDecimal) < float(prediction.probabilityDecimal)
    trained_db.rollback()
    assert trained_db.scalar(select(func.count()).select_from(Prediction)) == before + 3


def test_a_questionnaire_response_and_json_with_a_fhir_accept_header(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    answers = QuestionnaireResponse.model_validate(
        {
            "resourceType": "QuestionnaireResponse",
            "id": "q1",
            "status": "completed",
            "item": [
                {"linkId": "glucose", "answer": [{"valueDecimal": 150}]},
                {"linkId": "39156-5", "answer": [{"valueDecimal": 30}]},
                {"linkId": "age", "answer": [{"valueInteger": 50}]},
            ],
        }
    )
    patient = Patient.model_validate({"resourceType": "Patient", "id": "p9"})
    answer = _post(trained_client, doctor.headers, _bundle(patient, answers))
    assert answer.status_code == 200, answer.text
    (entry,) = Bundle.model_validate(answer.json()).entry
    assert [b.reference for b in entry.resource.basis] == ["QuestionnaireResponse/q1"]
    comorbidity = trained_client.post(
        "/api/v1/models/comorbidity_risk/predict",
        json={"patient": {"age": 72, "diagnosis_count": 6, "heart_failure": True}},
        headers={**doctor.headers, "Accept": "application/fhir+json"},
    )
    assert comorbidity.status_code == 200, comorbidity.text
    from fhir.resources.R4B.riskassessment import RiskAssessment

    assessment = RiskAssessment.model_validate(comorbidity.json())
    assert len(assessment.prediction) == 3  # one per class, the probabilities summing to 1
    assert sum(float(p.probabilityDecimal) for p in assessment.prediction) == pytest.approx(
        1, abs=1e-5
    )


def _with(resources: list[Any], index: int, **changes: Any) -> list[Any]:
    changed = list(resources)
    body = {**json.loads(changed[index].model_dump_json(exclude_none=True)), **changes}
    changed[index] = type(changed[index]).model_validate(body)
    return changed


BAD: list[tuple[str, Any, str]] = [
    (
        "wrong unit",
        lambda r: _with(
            r, 1, valueQuantity={"value": 6, "unit": "kg", "system": UCUM, "code": "kg"}
        ),
        "Observation/p1-glu: 'kg' cannot be converted to mg/dL",
    ),
    (
        "no LOINC code",
        lambda r: _with(
            r, 2, code={"coding": [{"system": "http://snomed.info/sct", "code": "60621009"}]}
        ),
        "Observation/p1-bmi has no LOINC code (its codes: http://snomed.info/sct|60621009)",
    ),
    (
        "two values",
        lambda r: [*r, _observation("p1-glu2", "p1", "1518-0", 7.0, "mmol/L")],
        "Patient/p1 has two values for Plasma glucose: Observation/p1-glu and Observation/p1-glu2",
    ),
    (
        "out of range",
        lambda r: _with(
            r, 1, valueQuantity={"value": 60, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
        ),
        "Patient/p1: ",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_bundles_are_refused_naming_the_resource(
    trained_client: TestClient, trained_db: Session, case: str, change: Any, message: str
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    answer = _post(trained_client, doctor.headers, _bundle(*change(_diabetic("p1", 7.0))))
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["error"]["message"]


def test_bundles_medfed_cannot_read_are_refused_with_what_it_reads(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    body = _bundle(*_diabetic("p1", 7.0))
    body["entry"].append({"resource": {"resourceType": "Condition", "id": "c1"}})
    refused = _post(trained_client, doctor.headers, body)
    assert refused.status_code == 422
    assert (
        "Bundle.entry[5] is a Condition: MedFed reads Patient, Observation, QuestionnaireResponse only"
        in refused.text
    )
    no_patient = _post(trained_client, doctor.headers, _bundle(*_diabetic("p1", 7.0)[1:]))
    assert no_patient.status_code == 422 and "not a Patient in the bundle" in no_patient.text
    broken_patient = {"resourceType": "Patient", "id": "p1", "birthDate": "last spring"}
    broken = _post(
        trained_client,
        doctor.headers,
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": broken_patient}]},
    )
    assert broken.status_code == 422 and "Not valid FHIR R4" in broken.text
    other = _post(trained_client, doctor.headers, {"resourceType": "Patient"})
    assert (
        other.status_code == 422 and "Expected a FHIR Bundle or QuestionnaireResponse" in other.text
    )
    garbage = trained_client.post(
        "/api/v1/models/diabetes/predict", content=b"{not json", headers={**doctor.headers, **FHIR}
    )
    assert garbage.status_code in (400, 422) and "not valid JSON" in garbage.text
