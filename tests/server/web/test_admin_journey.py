"""An administrator in a real browser: open a secure round, watch it finish, roll a version back."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.node import enroll as node_enroll
from medfed.node.client import ServerClient
from medfed.node.rounds import Participation, RoundAgent
from medfed.server.db.tables import Hospital, ModelVersion
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.node.conftest import site_csv
from tests.utils.agents import keep_stepping
from tests.utils.browser import Traffic, guarded_page, look, sign_in
from tests.utils.processes import ServerProcess, hospital_token

SITES = ("cleveland", "hungarian", "va")


def _agents(
    server: ServerProcess, env: dict[str, str], datasets_dir: Path, tmp_path: Path
) -> list[RoundAgent]:
    agents = []
    for site in SITES:
        token = hospital_token(env, f"{site.title()} Hospital")
        home = tmp_path / f"node-{site}"
        credential = node_enroll.enroll(home, server.url, token, node_name=site)
        offer = Participation("heart", site_csv(datasets_dir, site, tmp_path / f"{site}.csv"))
        client = ServerClient(server.url, credential.credential)
        agents.append(RoundAgent(home, client, offer, say=lambda _: None))
    return agents


def test_admin_opens_a_round_sees_it_deploy_and_rolls_back(
    browser: Browser,
    live_server: tuple[ServerProcess, dict[str, str]],
    trained_db: Session,
    datasets_dir: Path,
    tmp_path: Path,
) -> None:
    server, env = live_server
    make_user(trained_db, "admin", username="admin.browser")
    trained_db.rollback()
    agents = _agents(server, env, datasets_dir, tmp_path)
    stop, failures = threading.Event(), []
    nodes = threading.Thread(
        target=keep_stepping, args=([a.step for a in agents], stop, failures), daemon=True
    )
    traffic = Traffic()
    try:
        with guarded_page(browser, traffic) as page:
            sign_in(page, server.url, "admin.browser", DEFAULT_PASSWORD)
            page.goto(server.url + "/admin/rounds")
            page.select_option("#disease", "heart")
            page.fill("#min_hospitals", "3")
            page.fill("#min_rows", "50")
            page.fill("#local_epochs", "2")
            page.fill("#grace_seconds", "0")
            page.fill("#tolerance", "1")
            expect(page.locator("#secure")).to_be_checked()
            look(page, "admin-rounds")
            page.click("#open-round button[type=submit]")
            expect(page.locator(".notice")).to_contain_text("Round opened")
            nodes.start()
            # The page refreshes itself while the round runs; no reload from the test.
            # Promoted, or trained and kept on the training line: either way v1.1 exists.
            expect(page.locator("#round-status")).to_have_attribute(
                "data-status", re.compile("deployed|rejected"), timeout=180_000
            )
            assert not failures, failures
            expect(page.locator("#result-version")).to_have_text("v1.1")
            expect(page.locator("#cohort tbody tr")).to_have_count(3)
            validation = page.locator("#validation-table")
            expect(validation).to_contain_text("Server held-out data")
            expect(validation).to_contain_text("Federated evaluation (3 hospitals)")
            expect(page.locator("#promotion-reason")).to_contain_text("90 % CI")
            look(page, "admin-round-decided")

            page.goto(server.url + "/admin/models#heart")
            heart = page.locator("section#heart")
            if heart.get_by_role("button", name="Promote v1.1").count():
                # Not promoted by the evidence: the administrator may still serve it by hand.
                heart.get_by_label("Reason for activating v1.1").fill("Serve the new checkpoint")
                heart.get_by_role("button", name="Promote v1.1").click()
                expect(page.locator(".notice")).to_contain_text("v1.1 is now active for heart")
            heart.get_by_label("Reason for activating v1.0").fill(
                "Rollback drill from the browser test"
            )
            heart.get_by_role("button", name="Roll back to v1.0").click()
            expect(page.locator(".notice")).to_contain_text("v1.0 is now active for heart")
            look(page, "admin-versions")

            page.goto(server.url + "/admin/audit")
            page.click("#verify-chain")
            expect(page.locator("#verdict")).to_contain_text("audit chain intact")
            look(page, "admin-audit")
            for path in ("hospitals", "privacy", "health"):
                page.goto(f"{server.url}/admin/{path}")
                expect(page.locator("h1")).to_be_visible()
                look(page, f"admin-{path}")
            expect(page.locator("main")).to_contain_text("Ready")

            # A one-round campaign: the server opens the round itself and the nodes join.
            page.goto(server.url + "/admin/campaigns")
            page.select_option("#disease", "heart")
            page.fill("#rounds", "1")
            page.fill("#epsilon_budget", "2")
            page.fill("#min_rows", "50")
            page.fill("#grace_seconds", "0")
            page.fill("#local_epochs", "2")
            look(page, "admin-campaigns")
            page.click("#start-campaign button[type=submit]")
            expect(page.locator(".notice")).to_contain_text("Campaign started")
            expect(page.locator("#campaign-status")).to_have_attribute(
                "data-status", "finished", timeout=180_000
            )
            assert not failures, failures
            expect(page.locator("#campaign-outcome")).to_contain_text("all 1 planned rounds")
            expect(page.locator("#campaign-rounds tbody tr")).to_have_count(1)
            expect(page.locator("#campaign-rounds")).to_contain_text("v1.2")
            expect(page.locator("#campaign-privacy tbody tr")).to_have_count(3)
            look(page, "admin-campaign")
    finally:
        stop.set()
        if nodes.is_alive():
            nodes.join(timeout=30)

    trained_db.rollback()
    active = trained_db.scalars(
        select(ModelVersion).where(ModelVersion.disease == "heart", ModelVersion.is_active)
    ).one()
    # Rolled back to v1.0, then the campaign's v1.2 was promoted only if its evidence said so.
    assert active.version in ("v1.0", "v1.2")
    assert len(trained_db.scalars(select(Hospital)).all()) == 3

    # A hospital user sees the round in the contribution history.
    hospital = trained_db.scalars(select(Hospital).order_by(Hospital.id)).first()
    make_user(trained_db, "hospital", username="staff.browser", hospital=hospital)
    trained_db.rollback()
    with guarded_page(browser, Traffic()) as page:
        sign_in(page, server.url, "staff.browser", DEFAULT_PASSWORD)
        page.goto(server.url + "/hospital")
        expect(page.locator("main")).to_contain_text("Heart disease #1")
        expect(page.locator("main")).to_contain_text("v1.1")
        look(page, "hospital-contributions")
        page.goto(server.url + "/leaderboard")
        expect(page.locator("tbody tr")).to_have_count(3)
