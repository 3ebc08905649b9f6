"""A doctor in a real browser: sign in, find a model, predict by keyboard, read why, get the PDF."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.server.db.tables import Prediction
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.utils.browser import Traffic, guarded_page, pdf_text, screenshot, sign_in
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
        expect(page.locator(".model-card")).to_have_count(5)
        screenshot(page, "doctor-marketplace")
        page.fill("#q", "kidney")
        expect(page.locator(".model-card:visible")).to_have_count(1)
        page.fill("#q", "")
        page.locator(".model-card", has_text="Heart").get_by_role("link", name="Predict").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("new prediction")

        # Inline validation: an impossible age is flagged when the field is left.
        page.fill("#f-age", "500")
        page.keyboard.press("Tab")
        expect(page.locator("#f-age-error")).to_be_visible()
        expect(page.locator("#f-age-error")).to_contain_text("18 to 110")
        page.fill("#f-age", "")

        _type_patient(page)
        screenshot(page, "doctor-prediction-form")
        page.focus("#f-st_depression")
        page.keyboard.press("Enter")  # submits the form from the keyboard
        expect(page.locator("#result")).to_be_visible()
        band = page.locator("#result .risk").inner_text()
        probability = page.locator("#probability").inner_text()
        version = page.locator("#model-version").inner_text()
        assert band.endswith("risk") and probability.endswith("%") and version == "v1.0"
        factors = page.locator("#factors li")
        assert factors.count() >= 3
        first_factor = factors.first.inner_text()
        expect(page.locator(".chart-card svg")).to_have_count(1)
        screenshot(page, "doctor-result")

        page.fill("#patient_reference", "MRN-0042")
        with page.expect_download() as download_info:
            page.click("#report-form button[type=submit]")
        pdf = tmp_path / "report.pdf"
        download_info.value.save_as(pdf)

    text = " ".join(pdf_text(pdf).split())
    assert "MRN-0042" in text and "Heart disease model version v1.0" in text.replace("  ", " ")
    assert probability.replace(" ", "") in text.replace(" ", "")
    assert "Explanation: key factors" in text
    # The first factor's sentence as the page showed it, minus its "Raises/Lowers risk" tag.
    sentence = first_factor.split(" ", 2)[2]
    assert sentence[:40] in text
    assert "not a diagnosis" in text
    stored = trained_db.scalars(select(Prediction)).all()
    assert len(stored) == 1 and stored[0].inputs is None  # inputs kept only on opt-in
