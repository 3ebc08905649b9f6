"""A data scientist in a real browser asks the hospitals a question, watches their nodes
answer under their own policies, reads the charts and downloads the figures."""

from __future__ import annotations

import threading
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy.orm import Session

from medfed.node.policy import LocalPolicy, save_policy
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.node.test_rounds import _site_agents
from tests.utils.agents import keep_stepping
from tests.utils.browser import Traffic, guarded_page, look, sign_in
from tests.utils.processes import ServerProcess


def test_a_data_scientist_asks_for_age_by_site_and_reads_the_charts(
    browser: Browser,
    live_server: tuple[ServerProcess, dict[str, str]],
    trained_db: Session,
    datasets_dir: Path,
    tmp_path: Path,
) -> None:
    server = live_server[0]
    make_user(trained_db, "data_scientist", username="analyst.browser")
    trained_db.rollback()
    agents = _site_agents(
        live_server, datasets_dir, tmp_path, ("cleveland", "hungarian", "va"), "AJ"
    )
    for agent in agents[:2]:
        save_policy(agent.node_home, LocalPolicy(analytics_per_site=True))
    stop, failures = threading.Event(), []
    nodes = threading.Thread(
        target=keep_stepping, args=([a.analytics.step for a in agents], stop, failures), daemon=True
    )
    try:
        with guarded_page(browser, Traffic()) as page:
            sign_in(page, server.url, "analyst.browser", DEFAULT_PASSWORD)
            page.goto(server.url + "/admin/analytics")
            page.fill("#bins", "30,40")  # one bin: a bad one is refused first, with the reason
            page.fill("#bins", "40,30")
            page.fill("#hospitals", "cleveland AJ, hungarian AJ, va AJ")
            page.click("#ask-analytics button[type=submit]")
            expect(page.locator("#analytics-problem")).to_contain_text("must rise strictly")
            page.fill("#bins", "28,40,50,60,70,80")
            page.check("#per_site")
            page.select_option("#mechanism", "laplace")
            page.fill("#collect_seconds", "60")
            look(page, "analytics-ask")
            page.click("#ask-analytics button[type=submit]")
            expect(page.locator(".notice")).to_contain_text("Asked")
            nodes.start()
            # The page refreshes itself until the figures are released.
            expect(page.locator("#query-status")).to_have_attribute(
                "data-status", "released", timeout=90_000
            )
            assert not failures, failures
            hospitals = page.locator("#query-hospitals")
            expect(hospitals).to_contain_text("va AJ")
            expect(hospitals).to_contain_text("does not allow its own figures to be shown by name")
            result = page.locator("#query-result")
            expect(result.locator("svg[role=img]").first).to_be_visible()
            expect(
                result.locator("svg[aria-label^='Total variation distance']").first
            ).to_be_attached()
            expect(page.locator("#query-figures")).to_contain_text("cleveland AJ")
            expect(page.locator("#query-figures")).to_contain_text("total variation")
            look(page, "analytics-released")
            with page.expect_download() as download:
                page.get_by_role("link", name="Download CSV").click()
            text = Path(download.value.path()).read_text()
            assert text.startswith("scope,cell,label,statistic,value,dp_error")
            assert "hungarian AJ" in text
            page.goto(server.url + "/admin/analytics")
            expect(page.locator("#analytics-queries")).to_contain_text("2 of 3")
    finally:
        stop.set()
