"""Doctor pages over HTTP: refusals, reports that must match their prediction, file uploads."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.server.db.tables import Prediction
from tests.factories import make_user
from tests.server.web.test_pages import csrf_from, sign_in

PATIENT = {
    "age": "63",
    "sex": "1",
    "chest_pain": "4",
    "resting_bp": "145",
    "max_heart_rate": "150",
    "exercise_angina": "yes",
    "st_depression": "2.3",
}


def _doctor(client: TestClient, db: Session, name: str = "dr.pages") -> str:
    make_user(db, "doctor", username=name)
    db.rollback()
    assert sign_in(client, name).status_code == 303
    return csrf_from(client.get("/models/heart/predict").text)


def _predict(client: TestClient, token: str, **changes: str) -> tuple[int, str]:
    response = client.post(
        "/models/heart/predict", data={"csrf_token": token, **PATIENT, **changes}
    )
    return response.status_code, response.text


def test_form_errors_name_each_field_and_nothing_is_recorded(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _doctor(trained_client, trained_db)
    status, page = _predict(trained_client, token, age="abc", resting_bp="", st_depression="40")
    assert status == 422
    assert page.count('class="field has-error"') == 3 and "Please correct 3 fields" in page
    assert 'value="abc"' in page  # what the doctor typed is kept
    trained_db.rollback()
    assert trained_db.scalars(select(Prediction)).all() == []


def test_report_needs_the_inputs_that_gave_the_prediction(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _doctor(trained_client, trained_db)
    status, page = _predict(trained_client, token)
    assert status == 200
    prediction_id = re.search(r"/predictions/(\d+)/report", page).group(1)  # type: ignore[union-attr]
    inputs = html.unescape(re.search(r'name="inputs" value="([^"]*)"', page).group(1))  # type: ignore[union-attr]
    report = trained_client.post(
        f"/predictions/{prediction_id}/report",
        data={"csrf_token": token, "inputs": inputs, "patient_reference": "A-1"},
    )
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    assert report.headers["cache-control"] == "no-store"
    forged = trained_client.post(
        f"/predictions/{prediction_id}/report",
        data={"csrf_token": token, "inputs": inputs.replace('"age": 63.0', '"age": 30.0')},
    )
    assert forged.status_code == 422 and "do not reproduce" in forged.text
    missing = trained_client.post(
        f"/predictions/{prediction_id}/report", data={"csrf_token": token}
    )
    assert missing.status_code == 422
    no_csrf = trained_client.post(f"/predictions/{prediction_id}/report", data={"inputs": inputs})
    assert no_csrf.status_code == 403


def test_another_doctors_prediction_is_not_found(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _doctor(trained_client, trained_db, "dr.first")
    _, page = _predict(trained_client, token)
    prediction_id = re.search(r"/predictions/(\d+)/report", page).group(1)  # type: ignore[union-attr]
    trained_client.cookies.clear()
    other = _doctor(trained_client, trained_db, "dr.second")
    answer = trained_client.post(
        f"/predictions/{prediction_id}/outcome", data={"csrf_token": other, "outcome": "1"}
    )
    assert answer.status_code == 404


def test_single_patient_csv_upload(trained_client: TestClient, trained_db: Session) -> None:
    token = _doctor(trained_client, trained_db)
    header = ",".join(PATIENT)
    row = ",".join(PATIENT.values())
    one = trained_client.post(
        "/models/heart/predict-file",
        data={"csrf_token": token},
        files={"file": ("p.csv", f"{header}\n{row}\n", "text/csv")},
    )
    assert one.status_code == 200 and 'id="probability"' in one.text
    two = trained_client.post(
        "/models/heart/predict-file",
        data={"csrf_token": token},
        files={"file": ("p.csv", f"{header}\n{row}\n{row}\n", "text/csv")},
    )
    assert two.status_code == 422 and "has 2 patients" in two.text
    bad = trained_client.post(
        "/models/heart/predict-file",
        data={"csrf_token": token},
        files={"file": ("p.csv", f"{header}\n{row.replace('63', '999', 1)}\n", "text/csv")},
    )
    assert bad.status_code == 422 and "Row 2" in bad.text


def test_multi_disease_check_runs_only_complete_models(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _doctor(trained_client, trained_db)
    answer = trained_client.post(
        "/check",
        data={"csrf_token": token, **PATIENT, "glucose": "180", "bmi": "35"},
    )
    assert answer.status_code == 200
    assert answer.text.count('class="check-result') == 2  # heart and diabetes
    assert "Not run:" in answer.text and "Breast cancer" in answer.text


def test_outcomes_feed_the_real_world_chart(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _doctor(trained_client, trained_db)
    before = trained_client.get("/models/heart").text
    assert "No confirmed outcomes yet" in before
    _, page = _predict(trained_client, token)
    prediction_id = re.search(r"/predictions/(\d+)/report", page).group(1)  # type: ignore[union-attr]
    saved = trained_client.post(
        f"/predictions/{prediction_id}/outcome",
        data={"csrf_token": token, "outcome": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    after = trained_client.get("/models/heart").text
    assert "No confirmed outcomes yet" not in after and "Real-world accuracy" in after


def test_admin_pages_refuse_doctors(trained_client: TestClient, trained_db: Session) -> None:
    _doctor(trained_client, trained_db)
    for path in ("/admin/rounds", "/admin/audit", "/admin/hospitals", "/hospital"):
        response = trained_client.get(path)
        assert response.status_code == 403 and "<html" in response.text, path


def test_a_categorical_model_predicts_reports_and_takes_its_outcome_by_class(
    trained_client: TestClient, trained_db: Session
) -> None:
    token = _doctor(trained_client, trained_db, "dr.tiers")
    form = trained_client.get("/models/comorbidity_risk/predict").text
    assert 'name="metastatic"' in form and 'name="diagnosis_count"' in form
    page = trained_client.post(
        "/models/comorbidity_risk/predict",
        data={
            "csrf_token": token,
            "age": "80",
            "diagnosis_count": "7",
            "metastatic": "yes",
            "renal": "yes",
        },
    )
    assert page.status_code == 200, page.text
    text = page.text
    assert 'id="class-probabilities"' in text and "(most likely)" in text
    assert "High comorbidity risk (synthetic model)" in text
    assert "raises the chance of High" in text and "Not given" not in text  # absent: no
    assert "held-out class estimates" in text  # calibration pooled over the classes
    prediction_id = re.search(r"/predictions/(\d+)/report", text).group(1)  # type: ignore[union-attr]
    inputs = html.unescape(re.search(r'name="inputs" value="([^"]*)"', text).group(1))  # type: ignore[union-attr]
    report = trained_client.post(
        f"/predictions/{prediction_id}/report", data={"csrf_token": token, "inputs": inputs}
    )
    assert report.status_code == 200 and report.content.startswith(b"%PDF")

    history = trained_client.get("/predictions").text
    assert '<option value="2"' in history and ">High</option>" in history
    wrong = trained_client.post(
        f"/predictions/{prediction_id}/outcome", data={"csrf_token": token, "outcome": "3"}
    )
    assert wrong.status_code == 422 and "0 (Low), 1 (Medium), 2 (High)" in wrong.text
    saved = trained_client.post(
        f"/predictions/{prediction_id}/outcome",
        data={"csrf_token": token, "outcome": "2"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    card = trained_client.get("/models/comorbidity_risk").text
    assert 'id="classes"' in card and "Answered Medium" in card and 'id="synthetic"' in card
    assert "macro one-vs-rest" in card and "Real-world accuracy" in card
