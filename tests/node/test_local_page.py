"""The node's local page in a real browser: drop a CSV, read the report, train with progress, submit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.config import Settings
from medfed.node import enroll as node_enroll
from medfed.server.db.tables import Contribution
from tests.node.conftest import site_csv
from tests.utils.browser import Traffic, guarded_page, look
from tests.utils.processes import (
    ServerProcess,
    hospital_token,
    medfed_env,
    run_medfed,
    running_server,
    serving_node,
)


@pytest.fixture
def node_page(trained_settings: Settings, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A real server, an enrolled node home, and `medfed node serve` on a free loopback port."""
    env = medfed_env(
        tmp_path / "server-home",
        trained_settings.resolved_database_url,
        node_home=tmp_path / "node",
        MEDFED_ARTIFACTS_DIR=str(trained_settings.resolved_artifacts_dir),
        MEDFED_POLICY_MIN_ROWS="50",
    )
    with running_server(env, tmp_path / "server.log") as server:
        token = hospital_token(env, "Browser General")
        node_enroll.enroll(tmp_path / "node", server.url, token, node_name="browser-node")
        buffer = ["buffered", "enable", "heart", "--size", "3", "--plain-mode-acknowledged"]
        assert run_medfed(buffer, env).returncode == 0
        with serving_node(env, tmp_path / "node.log") as url:
            yield server, url


def test_hospital_checks_trains_and_submits_from_the_node_page(
    browser: Browser,
    node_page: tuple[ServerProcess, str],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    server, url = node_page
    csv_text = site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv").read_text()
    traffic = Traffic()
    with guarded_page(browser, traffic) as page:
        page.goto(url + "/")
        expect(page.locator("#who")).to_contain_text("Browser General")
        page.select_option("#disease", "heart")
        # A real drag and drop: a File in a DataTransfer, dropped on the zone.
        transfer = page.evaluate_handle(
            """(text) => { const dt = new DataTransfer();
                dt.items.add(new File([text], 'cleveland.csv', { type: 'text/csv' }));
                return dt; }""",
            csv_text,
        )
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
        expect(page.locator("#upload-status")).to_contain_text("cleveland.csv ready")
        page.click("#check-button")
        expect(page.locator("#report-verdict")).to_contain_text("Ready to train")
        expect(page.locator("table.columns tbody tr")).to_have_count(13)
        expect(page.locator("#report")).to_contain_text("Identifier scan: no names")
        look(page, "node-validation-report")

        # Record every progress text the page shows while the job runs.
        page.evaluate(
            """() => { window.seen = [];
                new MutationObserver(() => window.seen.push(
                    document.getElementById('progress-label').textContent))
                .observe(document.getElementById('progress-label'),
                         { childList: true, characterData: true, subtree: true }); }"""
        )
        page.fill("#epochs", "5")
        page.click("#train-button")
        expect(page.locator("#progress-label")).to_have_text("Training finished.", timeout=120_000)
        seen = page.evaluate("window.seen")
        assert any("%" in text for text in seen), seen  # live progress was shown before the end
        expect(page.locator("#metrics-table tbody tr")).to_have_count(3)
        expect(page.locator("#budget")).to_contain_text("heart")
        look(page, "node-trained")
        page.click("#submit-button")
        expect(page.locator("#submit-status")).to_contain_text("Submitted", timeout=30_000)
        look(page, "node-submitted")

    # The page spoke only to the node; the node alone talked to the server.
    assert traffic.requested and all(u.startswith(url) for u in traffic.requested)
    trained_db.rollback()
    stored = trained_db.scalars(select(Contribution)).all()
    assert len(stored) == 1 and stored[0].rows > 100
    assert "63.0,1.0,1.0" not in server.log()  # no patient row in the server's log


def _fine_tune(page: Page, url: str, disease: str, csv_path: Path) -> None:
    """Check a file on the node page and fine-tune the hospital's own model from it."""
    page.goto(url + "/")
    page.select_option("#disease", disease)
    page.set_input_files("#file", str(csv_path))
    page.click("#check-button")
    expect(page.locator("#report-verdict")).to_contain_text("Ready to train")
    page.fill("#epochs", "3")
    page.click("#personalise-button")
    expect(page.locator("#personalised")).to_contain_text(
        "This hospital's own model", timeout=120_000
    )


def test_hospital_fine_tunes_its_own_model_and_compares_predictions(
    browser: Browser,
    node_page: tuple[ServerProcess, str],
    datasets_dir: Path,
    tmp_path: Path,
) -> None:
    _, url = node_page
    csv_path = site_csv(datasets_dir, "hungarian", tmp_path / "hungarian.csv")
    traffic = Traffic()
    with guarded_page(browser, traffic, refusals=True) as page:
        page.goto(url + "/models")
        expect(page.locator("#held")).to_contain_text("No models yet")
        _fine_tune(page, url, "heart", csv_path)
        page.click("#personalised a")
        expect(page.locator("#held-table tbody tr")).to_have_count(2)
        page.fill("#in-age", "63")
        page.select_option("#in-sex", "1")
        page.select_option("#in-chest_pain", "4")
        page.fill("#in-resting_bp", "145")
        page.fill("#in-max_heart_rate", "150")
        page.select_option("#in-exercise_angina", "false")
        page.fill("#in-st_depression", "2.3")
        page.click("#predict-form button")
        expect(page.locator(".answer")).to_have_count(2)
        expect(page.locator(".answer-global")).to_contain_text("The network's model")
        expect(page.locator(".answer-local")).to_contain_text("This hospital's own model")
        expect(page.locator("#comparison")).to_contain_text("validation rows")
        look(page, "node-models-compare")
        page.fill("#in-age", "400")
        page.locator("#in-age").evaluate("(e) => e.removeAttribute('max')")
        page.click("#predict-form button")
        expect(page.locator("#predict-status")).to_contain_text("Age")
    assert all(u.startswith(url) for u in traffic.requested)  # the page spoke only to the node


def test_staff_score_a_registered_patient_with_both_comorbidity_models(
    browser: Browser, node_page: tuple[ServerProcess, str], datasets_dir: Path, tmp_path: Path
) -> None:
    """The issue's journey: fine-tune the hospital's own risk model, register a patient, record
    an admission's diagnoses, and compare the network's and the hospital's predictions."""
    _, url = node_page
    rows = (datasets_dir / "comorbidity_risk" / "tertiary.csv").read_text().splitlines()
    local = tmp_path / "tertiary-export.csv"
    local.write_text("\n".join(rows[:401]) + "\n")
    diagnoses = tmp_path / "diagnoses.csv"
    diagnoses.write_text("hadm_id,icd_code,icd_version,seq_num\nT-77,C34.90,10,3\nT-77,4280,9,4\n")
    traffic = Traffic()
    with guarded_page(browser, traffic, refusals=True) as page:
        _fine_tune(page, url, "comorbidity_risk", local)
        page.click("text=Patient registry")
        page.fill("#name", "Grace Hopper")
        page.fill("#local_id", "MRN-1906")
        page.fill("#birth_year", "1946")
        page.click("#register-form button")
        expect(page.locator("#register-status")).to_contain_text("Registered Grace Hopper")
        page.fill("#hadm_id", "T-77")
        page.fill("#admitted_on", "2026-11-30")
        page.click("#admit-form button")
        expect(page.locator("#patient-status")).to_contain_text("Admission T-77 recorded")
        for code in ("C78.00", "N18.6"):
            page.fill("#icd_code", code)
            page.click("#diagnose-form button")
            expect(page.locator("#patient-status")).to_contain_text(f"Added {code}")
        page.set_input_files("#import-file", str(diagnoses))
        page.click("#import-form button")
        expect(page.locator("#import-status")).to_contain_text("Imported 2 diagnoses")

        page.click("button[data-risk='T-77']")
        expect(page.locator("#risk .answer")).to_have_count(2)
        expect(page.locator("#risk-inputs")).to_contain_text("4 diagnoses, age 80")
        expect(page.locator("#risk-inputs")).to_contain_text(
            "Congestive heart failure (428.0 (as I50.9))"
        )
        expect(page.locator("#risk-inputs")).to_contain_text("Metastatic solid tumour (C78.00)")
        for kind in ("global", "local"):
            card = page.locator(f"#risk .answer-{kind}")
            expect(card.locator(".class-chances li")).to_have_count(3)
            expect(card.locator(".big")).to_contain_text("High")  # metastases, CKD, CHF at 80
        expect(page.locator("#risk-comparison")).to_contain_text("validation rows")
        look(page, "node-registry-risk")
    assert all(u.startswith(url) for u in traffic.requested)  # the page spoke only to the node
