"""A doctor in a real browser: sign in, find a model, predict by keyboard, read why, get the PDF."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.catalog import load_catalog
from medfed.server.db.tables import Prediction
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.utils.browser import Traffic, guarded_page, look, pdf_text, sign_in
from tests.utils.processes import ServerProcess

# Heart inputs in form order: (field id, keys to press). Selects move with the arrow keys.
KEYBOARD_PATIENT = [
    ("f-age", "67"),
    ("f-sex", ["ArrowDown", "ArrowDown"]),  # Male
    ("f-chest_pain", ["ArrowDown"] * 4),  # Asymptomatic
    ("f-resting_bp", "160"),
    ("f-cholesterol", "286"),
    ("f-fasting_blood_sugar_high", ["ArrowDown", "ArrowDown"]),  # No
    ("f-resting_ecg", ["ArrowDown"] * 3),  # Left ventricular hypertrophy
    ("f-max_heart_rate", "108"),
    ("f-exercise_angina", ["ArrowDown"]),  # Yes
    ("f-st_depression", "1.5"),
]


def _type_patient(page: Page) -> None:
    """Keyboard only: focus moves with Tab from the first field through the form."""
    page.focus("#f-age")
    for field_id, keys in KEYBOARD_PATIENT:
        assert page.evaluate("document.activeElement.id") == field_id
        if isinstance(keys, str):
            page.keyboard.type(keys)
        else:
            for key in keys:
                page.keyboard.press(key)
        page.keyboard.press("Tab")


def test_doctor_predicts_explains_and_downloads_the_report(
    browser: Browser,
    live_server: tuple[ServerProcess, dict[str, str]],
    trained_db: Session,
    tmp_path: Path,
) -> None:
    server, _ = live_server
    make_user(trained_db, "doctor", username="dr.browser")
    trained_db.rollback()
    traffic = Traffic()
    with guarded_page(browser, traffic) as page:
        sign_in(page, server.url, "dr.browser", DEFAULT_PASSWORD)
        expect(page.get_by_role("navigation", name="Main")).to_contain_text("Models")

        page.goto(server.url + "/models")
        expect(page.locator(".model-card")).to_have_count(len(load_catalog()))
        look(page, "doctor-marketplace")
        page.fill("#q", "kidney")
        expect(page.locator(".model-card:visible")).to_have_count(1)
        page.fill("#q", "")
        page.locator(".model-card", has_text="Heart").get_by_role("link", name="Predict").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("new prediction")

        # Inline validation: an impossible age is flagged when the field is left (once the
        # page's script has attached its listeners; on a busy machine that can lag the heading).
        page.wait_for_load_state("load")
        page.fill("#f-age", "500")
        page.keyboard.press("Tab")
        expect(page.locator("#f-age-error")).to_be_visible()
        expect(page.locator("#f-age-error")).to_contain_text("18 to 110")
        page.fill("#f-age", "")

        _type_patient(page)
        look(page, "doctor-prediction-form")
        page.focus("#f-st_depression")
        page.keyboard.press("Enter")  # submits the form from the keyboard
        expect(page.locator("#result")).to_be_visible()
        band = page.locator("#result .risk").inner_text()
        probability = page.locator("#probability").inner_text()
        version = page.locator("#model-version").inner_text()
        assert "risk" in band.lower() and probability.endswith("%") and version == "v1.0"
        expect(page.locator("#similar-patients")).to_contain_text("held-out patients")
        factors = page.locator("#factors li")
        assert factors.count() >= 3
        first_factor = factors.first.inner_text()
        expect(page.locator(".chart-card svg:visible")).to_have_count(1)
        # The address bar moved to the prediction's own page: a reload cannot predict twice.
        prediction_url = page.url
        assert "/predictions/" in prediction_url
        look(page, "doctor-result")

        page.fill("#patient_reference", "MRN-0042")
        with page.expect_download() as download_info:
            page.click("#report-form button[type=submit]")
        pdf = tmp_path / "report.pdf"
        download_info.value.save_as(pdf)

        page.reload()
        assert page.url == prediction_url
        expect(page.locator("#probability")).to_have_text(probability)
        expect(page.locator("main")).to_contain_text("inputs were not kept")
        look(page, "doctor-prediction-again")

        page.goto(server.url + "/models/heart")
        expect(page.locator("#calibration")).to_contain_text("Expected calibration error")
        expect(page.locator("#selection")).to_contain_text("cross-validation")
        expect(page.locator("#directions")).to_be_visible()
        look(page, "doctor-model-card")

        # The multi-disease check says which models can answer as inputs are filled.
        page.goto(server.url + "/check")
        diabetes = page.locator('#model-readiness li[data-disease="diabetes"]')
        expect(diabetes).not_to_have_class("ready")
        page.locator("details.field-group", has_text="Diabetes only").locator("summary").click()
        for field_id, value in (("f-glucose", "150"), ("f-bmi", "31"), ("f-age", "52")):
            page.fill(f"#{field_id}", value)
        expect(diabetes).to_have_class("ready")
        look(page, "doctor-check")
        page.locator(".check-status button[type=submit]").click()
        expect(page.locator("#check-results")).to_contain_text("Diabetes")
        look(page, "doctor-check-results")

        page.goto(server.url + "/predictions")
        expect(page.locator("tbody tr")).to_have_count(2)
        look(page, "doctor-history")

        # A page the doctor may not open keeps the navigation and the way to sign out.
        page.goto(server.url + "/admin/audit")
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.get_by_role("navigation", name="Main")).to_contain_text("My predictions")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        look(page, "doctor-forbidden")

    text = " ".join(pdf_text(pdf).split())
    assert "MRN-0042" in text and "Heart disease model version v1.0" in text.replace("  ", " ")
    assert probability.replace(" ", "") in text.replace(" ", "")
    assert "Explanation: key factors" in text
    # The first factor's sentence as the page showed it, minus its "Raises/Lowers risk" tag.
    sentence = first_factor.split(" ", 2)[2]
    assert sentence[:40] in text
    assert "not a diagnosis" in text
    stored = trained_db.scalars(select(Prediction).order_by(Prediction.id)).all()
    # One prediction from the form (the reload made none), one from the multi-disease check.
    assert [p.disease for p in stored] == ["heart", "diabetes"]
    assert all(p.inputs is None for p in stored)  # inputs kept only on opt-in
