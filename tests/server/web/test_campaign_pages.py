"""The campaign pages: start from a form, follow the training line, pause, resume, cancel."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.server.db.tables import Campaign
from tests.factories import make_user
from tests.server.rounds_harness import make_rounds
from tests.server.web.test_pages import csrf_from, sign_in, signed_in

FORM = {
    "disease": "heart",
    "rounds": "2",
    "patience": "",
    "epsilon_budget": "none",
    "schedule": "back_to_back",
    "min_hospitals": "3",
    "min_rows": "50",
    "metric": "accuracy",  # the harness's evaluations report accuracies
}


def test_a_campaign_from_the_form_to_its_training_line(
    trained_client: TestClient, trained_db: Session
) -> None:
    rounds = make_rounds(trained_client, trained_db, nodes=3)
    make_user(trained_db, "admin", username="admin.campaigns")
    trained_db.rollback()
    assert sign_in(trained_client, "admin.campaigns").status_code == 303
    page = trained_client.get("/admin/campaigns")
    assert page.status_code == 200 and 'href="/admin/campaigns"' in page.text
    token = csrf_from(page.text)
    bad = trained_client.post(
        "/admin/campaigns", data={**FORM, "csrf_token": token, "rounds": "0", "local_epochs": "7"}
    )
    assert bad.status_code == 422 and "rounds" in bad.text and 'value="7"' in bad.text
    tiny = trained_client.post(
        "/admin/campaigns",
        data={**FORM, "csrf_token": token, "rounds": "20", "epsilon_budget": "0.001"},
    )
    assert tiny.status_code == 422 and "below what DP-SGD can certify" in tiny.text
    past = trained_client.post(
        "/admin/campaigns", data={**FORM, "csrf_token": token, "start_at": "2020-01-01T08:00"}
    )
    assert past.status_code == 422 and "in the past" in past.text
    trained_db.rollback()
    assert trained_db.scalars(select(Campaign)).all() == []
    trained_db.rollback()
    started = trained_client.post(
        "/admin/campaigns", data={**FORM, "csrf_token": token}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    where = started.headers["location"].split("?")[0]
    rounds.tick()
    opened = trained_client.get(where)
    assert 'data-status="running"' in opened.text and "round 1 is open" in opened.text
    listed = rounds.client.get("/api/v1/rounds", headers=rounds.admin.headers).json()
    rounds.complete(listed[0]["id"], 0.80, 0.84)
    rounds.tick()
    page = trained_client.get(where)
    assert "Training line" in page.text and "<svg" in page.text
    assert "promoted to doctors" in page.text and "round 2 is open" in page.text
    assert "Best checkpoint so far: <strong>v1.1</strong>" in page.text
    assert "It was promoted to doctors." in page.text
    paused = trained_client.post(f"{where}/pause", data={"csrf_token": token})
    assert paused.status_code == 200 and 'data-status="paused"' in paused.text
    resumed = trained_client.post(f"{where}/resume", data={"csrf_token": token})
    assert 'data-status="running"' in resumed.text
    short = trained_client.post(f"{where}/cancel", data={"csrf_token": token, "reason": "no"})
    assert "at least 5 characters" in short.text
    cancelled = trained_client.post(
        f"{where}/cancel", data={"csrf_token": token, "reason": "enough for today"}
    )
    assert 'data-status="cancelled"' in cancelled.text and "enough for today" in cancelled.text
    assert "Pause" not in cancelled.text


def test_buffered_contributions_are_switched_on_only_with_plain_mode_accepted(
    trained_client: TestClient, trained_db: Session
) -> None:
    signed_in(trained_client, trained_db, "admin", "admin.buffers")
    token = csrf_from(trained_client.get("/admin/campaigns").text)
    form = {"csrf_token": token, "disease": "heart", "size": "2", "max_staleness": "4"}
    unticked = trained_client.post("/admin/campaigns/buffers", data=form)
    assert "Tick the box that accepts plain mode" in unticked.text
    assert "Off for every disease" in unticked.text
    bad = trained_client.post(
        "/admin/campaigns/buffers",
        data={**form, "size": "0", "plain_mode_acknowledged": "yes"},
    )
    assert "size must be between 1 and 1000" in bad.text
    on = trained_client.post(
        "/admin/campaigns/buffers", data={**form, "plain_mode_acknowledged": "yes"}
    )
    assert "Buffered contributions are on." in on.text and "2 contributions" in on.text
    off = trained_client.post("/admin/campaigns/buffers/heart/disable", data={"csrf_token": token})
    assert "0 waiting were discarded" in off.text and "Off for every disease" in off.text
