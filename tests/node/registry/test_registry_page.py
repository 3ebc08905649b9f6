"""The registry page in a real browser, against `medfed node serve`: register a patient, record an
admission, add diagnoses by hand and from a file, see a refusal, and find the patient again."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.utils.browser import Traffic, guarded_page, look


@pytest.mark.slow
@pytest.mark.own_database
def test_staff_register_a_patient_and_record_diagnoses(
    browser: Browser, node_url: str, tmp_path: Path
) -> None:
    diagnoses = tmp_path / "diagnoses.csv"
    diagnoses.write_text(
        "hadm_id,icd_code,icd_version,seq_num\nA-1001,4280,9,2\nA-1001,E11.9,10,3\n"
    )
    traffic = Traffic()
    with guarded_page(browser, traffic, refusals=True) as page:
        page.goto(node_url + "/")
        page.click("text=Patient registry")
        expect(page.locator("#registry-counts")).to_contain_text("0 patients")
        page.fill("#name", "Ada Lovelace")
        page.fill("#local_id", "MRN-4471")
        page.fill("#birth_year", "1950")
        page.select_option("#sex", "female")
        page.click("#register-form button")
        expect(page.locator("#register-status")).to_contain_text("Registered Ada Lovelace as P-")
        secure_id = page.locator("#register-status").inner_text().split(" as ")[1].rstrip(".")
        expect(page.locator("#patient-heading")).to_contain_text(secure_id)

        page.fill("#hadm_id", "A-1001")
        page.click("#admit-form button")
        expect(page.locator("#patient-status")).to_contain_text("Admission A-1001 recorded")
        page.fill("#icd_code", "I21.4")
        page.locator("#icd_code").press("Tab")
        expect(page.locator("#code-description")).to_contain_text(
            "Non-ST elevation (NSTEMI)", timeout=15_000
        )
        page.click("#diagnose-form button")
        expect(page.locator("#patient-status")).to_contain_text("Added I21.4")

        page.fill("#icd_code", "I99.999")
        page.click("#diagnose-form button")
        expect(page.locator("#patient-status")).to_contain_text("not in the ICD-10-CM code set")
        expect(page.locator("#patient-status")).to_have_attribute("role", "alert")

        page.set_input_files("#import-file", str(diagnoses))
        page.click("#import-form button")
        expect(page.locator("#import-status")).to_contain_text(
            "Imported 2 diagnoses for 1 admission."
        )
        expect(page.locator("#patient table.diagnoses tbody tr")).to_have_count(3)
        expect(page.locator("#patient")).to_contain_text("ICD-10 I50.9")  # 428.0, mapped
        look(page, "node-registry-patient")

        page.reload()
        page.fill("#search", secure_id[:7])
        page.click("#search-form button")
        expect(page.locator("#patients-table tbody tr")).to_have_count(1)
        page.click(f"text={secure_id}")
        expect(page.locator("#patient-heading")).to_contain_text("Ada Lovelace")
        expect(page.locator("#registry-counts")).to_contain_text(
            "1 patient, 1 admission, 3 diagnoses"
        )
    assert all(u.startswith(node_url) for u in traffic.requested)
