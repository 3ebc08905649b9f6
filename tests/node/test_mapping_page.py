"""The node page's column mapping in a real browser: a lab system's export is refused, its
columns are shown with the proposal highlighted, a bad correction is refused with the column
named, and once saved the file checks clean with glucose converted from mmol/L."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from medfed.node import mappings
from tests.utils import emr
from tests.utils.browser import Traffic, guarded_page, look


@pytest.mark.own_database
def test_staff_confirm_the_proposed_columns_once_and_the_export_checks_clean(
    browser: Browser, node_url: str, tmp_path: Path, datasets_dir: Path
) -> None:
    export = emr.pima_mmol(
        datasets_dir / "diabetes" / "pima-indians-diabetes.csv", tmp_path / "lab.csv"
    )
    traffic = Traffic()
    with guarded_page(browser, traffic, refusals=True) as page:
        page.goto(node_url + "/")
        page.select_option("#disease", "diabetes")
        page.set_input_files("#file", str(export))
        page.click("#check-button")
        expect(page.locator("#report-verdict")).to_contain_text("Proposed: 'Âge (années)' as Age")
        expect(page.locator("#mapping-card")).to_be_visible()
        rows = page.locator("#mapping-table tbody tr")
        expect(rows).to_have_count(10)
        expect(page.locator("#mapping-table tr.proposal")).to_have_count(1)
        expect(page.locator("#mapping-table tr.proposal")).to_contain_text("Âge (années)")
        expect(page.locator("#map-unit-1")).to_have_value("mmol/L")  # from the header
        look(page, "node-column-mapping")

        page.select_option("#map-role-4", "feature:glucose")  # Insulin as glucose too: refused
        page.click("#mapping-save")
        expect(page.locator("#mapping-status")).to_contain_text(
            "'Plasma Glucose (mmol/L)' and 'Insulin' are both mapped to Plasma glucose"
        )
        assert not mappings.path_of(tmp_path / "node").exists()
        page.select_option("#map-role-4", "feature:insulin")
        page.select_option("#map-role-9", "drop")  # the patient's name is never read
        page.click("#mapping-save")
        expect(page.locator("#report-verdict")).to_contain_text("Ready to train: 768 usable rows")
        expect(page.locator("#report-units")).to_contain_text(
            "Plasma glucose: mmol/L → mg/dL (times 18.0156)"
        )
        expect(page.locator("#mapping-intro")).to_contain_text(
            "mapping saved for files of its shape"
        )
        look(page, "node-column-mapping-saved")
    assert traffic.requested and all(u.startswith(node_url) for u in traffic.requested)
    saved = mappings.load(tmp_path / "node").mappings
    assert [m.disease for m in saved] == ["diabetes"]
    assert saved[0].choices[9].role == "drop"
