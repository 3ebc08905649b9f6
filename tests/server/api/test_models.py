from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.catalog import get_disease, load_catalog
from medfed.server.db.tables import AuditEvent, Prediction
from tests.factories import make_logged_in

TYPICAL = {
    "comorbidity_risk": {"age": 72, "diagnosis_count": 6, "heart_failure": True, "renal": "yes"},
    "diabetes": {"glucose": 117, "bmi": 32, "age": 29},
    "heart": {
        "age": 54,
        "sex": "male",
        "chest_pain": "asymptomatic",
        "resting_bp": 130,
        "max_heart_rate": 140,
        "exercise_angina": "no",
        "st_depression": 1.0,
    },
    "kidney": {
        "age": 50,
        "blood_pressure": 80,
        "serum_creatinine": 1.1,
        "hemoglobin": 14,
        "hypertension": False,
        "diabetes_mellitus": "no",
    },
}


def typical_patient(disease: str) -> dict[str, object]:
    if disease in TYPICAL:
        return TYPICAL[disease]
    spec = get_disease(disease)
    return {
        f.name: round((f.range[0] + f.range[1]) / 4, 4)
        for f in spec.features
        if f.required and f.range
    }


def test_marketplace_lists_six_active_baselines(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    models = trained_client.get("/api/v1/models", headers=doctor.headers).json()
    assert {m["disease"] for m in models} == set(load_catalog())
    for model in models:
        assert model["active_version"] == "v1.0"
        assert 0.5 < model["accuracy"] <= 1 and 0.5 < model["roc_auc"] <= 1
        assert model["contributing_hospitals"] == 0
        spec = get_disease(model["disease"])
        assert model["outcome_kind"] == ("categorical" if spec.categorical else "binary")
        assert model["classes"] == list(spec.class_labels)


def test_model_detail_has_the_form_fields_history_and_card(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    detail = trained_client.get("/api/v1/models/heart", headers=doctor.headers).json()
    chest = next(f for f in detail["features"] if f["name"] == "chest_pain")
    assert (
        chest["type"] == "category"
        and {"code": "4", "label": "Asymptomatic"} in chest["categories"]
    )
    assert [v["version"] for v in detail["versions"]] == ["v1.0"]
    card = detail["model_card"]
    for key in ("metrics", "calibration", "rows", "data_source", "training", "selection", "split"):
        assert key in card
    assert "within each of 4 sites" in card["split"]
    assert trained_client.get("/api/v1/models/flu", headers=doctor.headers).status_code == 404


@pytest.mark.parametrize("disease", sorted(load_catalog()))
def test_every_disease_predicts_and_explains_additively(
    trained_client: TestClient, trained_db: Session, disease: str
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    response = trained_client.post(
        f"/api/v1/models/{disease}/predict",
        json={"patient": typical_patient(disease)},
        headers=doctor.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    explanation = body["explanation"]
    total = explanation["base_value"] + sum(c["shap"] for c in explanation["contributions"])
    assert abs(total - explanation["logit"]) < 1e-3  # the logit is what SHAP values add up to
    if get_disease(disease).categorical:  # the factors explain the likeliest class's logit
        chances = body["class_probabilities"]
        assert abs(sum(chances.values()) - 1) < 1e-5
        assert body["predicted_label"] == max(chances, key=chances.get)
        assert body["probability"] == chances[body["predicted_label"]]
        assert len(explanation["per_class"]) == 3
        assert explanation["per_class"][body["predicted_label"]] == [
            c["shap"] for c in explanation["contributions"]
        ]
    else:
        assert abs(1 / (1 + np.exp(-explanation["logit"])) - body["probability"]) < 1e-5
        assert body["class_probabilities"] is None and explanation["per_class"] is None
    assert body["risk_band"] in {"low", "moderate", "high"} and body["model_version"] == "v1.0"
    floor = 1 / len(get_disease(disease).class_labels)  # the likeliest class is at least this
    assert body["confidence"] >= floor and body["explanation"]["top_factors"]


def test_high_glucose_is_the_top_factor_for_pima(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    typical = {
        "pregnancies": 3,
        "glucose": 199,
        "blood_pressure": 72,
        "skin_thickness": 29,
        "insulin": 125,
        "bmi": 32,
        "pedigree": 0.37,
        "age": 29,
    }
    body = trained_client.post(
        "/api/v1/models/diabetes/predict", json={"patient": typical}, headers=doctor.headers
    ).json()
    top = body["explanation"]["top_factors"][0]
    assert top["feature"] == "glucose" and top["shap"] > 0
    assert top["text"] == "Plasma glucose 199 mg/dL (above typical) raises the risk"
    assert body["risk_band"] == "high"


INVALID = [
    (
        {"glucose": 117, "bmi": 32, "age": 29, "shoe_size": 42},
        "patient.shoe_size",
        "not a diabetes input",
    ),
    ({"glucose": "high", "bmi": 32, "age": 29}, "patient.glucose", "not a number"),
    ({"glucose": 999, "bmi": 32, "age": 29}, "patient.glucose", "from 20 to 400 mg/dL"),
    ({"bmi": 32, "age": 29}, "patient.glucose", "required"),
    ({"glucose": "NaN", "bmi": 32, "age": 29}, "patient.glucose", "finite"),
    ({"glucose": [1, 2], "bmi": 32, "age": 29}, "patient.glucose", "must be"),
    ({"glucose": 117, "bmi": 32, "age": True}, "patient.age", "true/false"),
]


@pytest.mark.parametrize(("patient", "field", "phrase"), INVALID)
def test_invalid_inputs_get_422_naming_the_field(
    trained_client: TestClient, trained_db: Session, patient: dict, field: str, phrase: str
) -> None:  # type: ignore[type-arg]
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    response = trained_client.post(
        "/api/v1/models/diabetes/predict", json={"patient": patient}, headers=doctor.headers
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field and phrase in error["message"]


def test_bad_category_names_the_accepted_values(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    patient = {**TYPICAL["heart"], "chest_pain": "sharp"}
    error = trained_client.post(
        "/api/v1/models/heart/predict", json={"patient": patient}, headers=doctor.headers
    ).json()["error"]
    assert error["field"] == "patient.chest_pain" and "4 (Asymptomatic)" in error["message"]


def test_inputs_are_stored_only_on_opt_in_and_audit_holds_metadata(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    patient = TYPICAL["diabetes"]
    trained_client.post(
        "/api/v1/models/diabetes/predict", json={"patient": patient}, headers=doctor.headers
    )
    trained_client.post(
        "/api/v1/models/diabetes/predict",
        json={"patient": patient, "store_inputs": True},
        headers=doctor.headers,
    )
    stored = trained_db.scalars(select(Prediction).order_by(Prediction.id)).all()
    assert stored[0].inputs is None and stored[1].inputs["glucose"] == 117
    events = trained_db.scalars(select(AuditEvent).where(AuditEvent.action == "prediction")).all()
    assert len(events) == 2 and events[0].object == "model:diabetes:v1.0"
    assert "117" not in str(events[0].details) and events[0].details["risk_band"] in {
        "low",
        "moderate",
        "high",
    }


def test_hospital_staff_cannot_use_predictions(
    trained_client: TestClient, trained_db: Session
) -> None:
    staff = make_logged_in(trained_client, trained_db, "hospital")
    response = trained_client.post(
        "/api/v1/models/diabetes/predict",
        json={"patient": TYPICAL["diabetes"]},
        headers=staff.headers,
    )
    assert response.status_code == 403


def test_batch_csv_with_aliases_semicolons_and_errors_by_row(
    trained_client: TestClient, trained_db: Session
) -> None:
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    headers = {**doctor.headers, "content-type": "text/csv"}
    good = "PlGlcConc;BMI;Age;BloodP\n148;33.6;50;72\n85;26.6;31;\n"
    response = trained_client.post(
        "/api/v1/models/diabetes/predict-batch", content=good, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 2
    files = {"file": ("patients.csv", "glucose,bmi,age\n120,30,40\n", "text/csv")}
    multipart = trained_client.post(
        "/api/v1/models/diabetes/predict-batch", files=files, headers=doctor.headers
    )
    assert multipart.status_code == 200 and multipart.json()["count"] == 1
    bad = "glucose,bmi,age\n120,30,40\n120,300,40\n"
    error = trained_client.post(
        "/api/v1/models/diabetes/predict-batch", content=bad, headers=headers
    ).json()["error"]
    assert "Row 3, column 'bmi'" in error["message"]
    for body, phrase in [
        ("", "empty"),
        ("glucose,bmi,age\n", "no patient rows"),
        ("bmi,age\n30,40\n", "Plasma glucose"),
        ("glucose,bmi,age\n1,2\n", "has 2 cells"),
        ("glucose,bmi,age,ssn\n120,30,40,1\n", "'ssn'"),
    ]:
        response = trained_client.post(
            "/api/v1/models/diabetes/predict-batch", content=body, headers=headers
        )
        assert response.status_code == 422 and phrase in response.json()["error"]["message"], (
            body,
            response.text,
        )
    assert (
        trained_db.scalar(
            select(Prediction.id)
            .where(Prediction.user_id == doctor.user.id)
            .order_by(Prediction.id.desc())
            .limit(1)
        )
        == 3
    )


def test_admin_rolls_back_with_a_reason_and_predictions_follow(
    trained_client: TestClient, trained_db: Session, trained_settings
) -> None:  # type: ignore[no-untyped-def]
    from medfed.server.services import registry
    from medfed.server.storage import LocalArtifactStore

    store = LocalArtifactStore(trained_settings.resolved_artifacts_dir)
    base = registry.active_version(trained_db, "diabetes")
    model = registry.ModelCache(store).get(base)
    registry.register_version(
        trained_db,
        store,
        model.with_parameters(model.parameters * 0.9),
        metrics={},
        card={},
        provenance={"source": "test"},
        contributing_hospitals=1,
        activate=True,
        actor="test",
    )
    trained_db.commit()
    admin = make_logged_in(trained_client, trained_db, "admin")
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    patient = {"patient": TYPICAL["diabetes"]}
    assert (
        trained_client.post(
            "/api/v1/models/diabetes/predict", json=patient, headers=doctor.headers
        ).json()["model_version"]
        == "v1.1"
    )
    no_reason = trained_client.post(
        "/api/v1/models/diabetes/active",
        json={"version": "v1.0", "reason": ""},
        headers=admin.headers,
    )
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    denied = trained_client.post(
        "/api/v1/models/diabetes/active",
        json={"version": "v1.0", "reason": "calibration drift"},
        headers=doctor.headers,
    )
    assert denied.status_code == 403
    missing = trained_client.post(
        "/api/v1/models/diabetes/active",
        json={"version": "v7.0", "reason": "calibration drift"},
        headers=admin.headers,
    )
    assert missing.status_code == 404
    rolled = trained_client.post(
        "/api/v1/models/diabetes/active",
        json={"version": "v1.0", "reason": "calibration drift"},
        headers=admin.headers,
    )
    assert rolled.status_code == 200 and rolled.json()["is_active"]
    assert (
        trained_client.post(
            "/api/v1/models/diabetes/predict", json=patient, headers=doctor.headers
        ).json()["model_version"]
        == "v1.0"
    )
    event = trained_db.scalars(
        select(AuditEvent).where(AuditEvent.action == "model_activated")
    ).one()
    assert event.details == {
        "previous": "v1.1",
        "reason": "calibration drift",
        "promoted_by_hand": False,
    }
    trained_db.rollback()  # end this read: on SQLite every transaction holds the write lock
    again = trained_client.post(
        "/api/v1/models/diabetes/active",
        json={"version": "v1.0", "reason": "calibration drift"},
        headers=admin.headers,
    )
    assert again.status_code == 409
