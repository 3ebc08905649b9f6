"""Campaigns through the real API and database: rounds open by themselves, the training line
advances every round, and pause, resume, cancel and the stopping rules do what they say."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.clock import utcnow
from medfed.server.db.tables import AuditEvent, CampaignRound, Round
from medfed.server.services import campaigns
from tests.server.rounds_harness import FAST, Rounds, make_rounds

ROUND = {key: value for key, value in FAST.items() if key != "target_epsilon"}


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=3)


def _start(harness: Rounds, **plan: Any) -> Any:
    body = {"disease": "heart", "patience": None, "round": ROUND, **plan}
    return harness.client.post("/api/v1/campaigns", json=body, headers=harness.admin.headers)


def _campaign(rounds: Rounds, campaign_id: int) -> dict[str, Any]:
    response = rounds.client.get(f"/api/v1/campaigns/{campaign_id}", headers=rounds.admin.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _live_round(rounds: Rounds, campaign_id: int) -> dict[str, Any]:
    live = [r for r in _campaign(rounds, campaign_id)["rounds"] if r["status"] == "open"]
    assert len(live) == 1, _campaign(rounds, campaign_id)
    return rounds.round(live[0]["id"])


def test_a_campaign_runs_its_rounds_and_every_round_advances_the_training_line(
    rounds: Rounds,
) -> None:
    started = _start(rounds, rounds=3)
    assert started.status_code == 201, started.text
    campaign_id = started.json()["id"]
    assert started.json()["status"] == "running" and started.json()["rounds"] == []
    bases = []
    for number, candidate in enumerate((0.80, 0.79, 0.78), start=1):
        rounds.tick()
        opened = _live_round(rounds, campaign_id)
        assert opened["opened_by"] == f"campaign:{campaign_id}"
        bases.append(opened["base_version"])
        rounds.complete(opened["id"], 0.80, candidate)
    rounds.tick()
    done = _campaign(rounds, campaign_id)
    assert done["status"] == "finished" and done["reason"] == "all 3 planned rounds trained"
    # Each round started from the previous round's checkpoint, promoted or not.
    assert bases == ["v1.0", "v1.1", "v1.2"]
    assert [r["result_version"] for r in done["rounds"]] == ["v1.1", "v1.2", "v1.3"]
    assert [r["value"] for r in done["rounds"]] == pytest.approx([0.80, 0.79, 0.78])
    assert done["progress"]["trained"] == 3 and done["progress"]["best"] == pytest.approx(0.80)
    assert done["progress"]["best_version"] == "v1.1"  # the candidate kept: the best so far
    # No further round opens once the campaign has finished.
    rounds.tick(after_seconds=3600)
    assert len(_campaign(rounds, campaign_id)["rounds"]) == 3
    actions = set(rounds.db.scalars(select(AuditEvent.action)))
    rounds.db.rollback()
    assert {"campaign_started", "campaign_finished"} <= actions


def test_every_round_carries_the_whole_budget_and_spend_is_what_nodes_charged(
    rounds: Rounds,
) -> None:
    started = _start(rounds, rounds=2, epsilon_budget=4.0)
    assert started.status_code == 201, started.text
    campaign_id = started.json()["id"]
    assert started.json()["round_config"]["target_epsilon"] == 4.0
    assert started.json()["round_config"]["budget_rounds"] == 2
    rounds.tick()
    opened = _live_round(rounds, campaign_id)
    assert opened["config"]["target_epsilon"] == 4.0 and opened["config"]["budget_rounds"] == 2
    rounds.complete(opened["id"], 0.8, 0.8, epsilon=1.25)  # what each node charged its ledger
    progress = _campaign(rounds, campaign_id)["progress"]
    assert progress["epsilon_budget"] == 4.0
    assert len(progress["epsilon_spent"]) == 3 and set(progress["epsilon_spent"].values()) == {1.25}


def test_pause_resume_and_cancel_are_audited_and_cancel_stops_the_live_round(
    rounds: Rounds,
) -> None:
    campaign_id = _start(rounds, rounds=5).json()["id"]
    headers = rounds.admin.headers
    paused = rounds.client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    rounds.tick()
    assert _campaign(rounds, campaign_id)["rounds"] == []  # nothing opens while paused
    again = rounds.client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=headers)
    assert again.status_code == 409 and "paused" in again.json()["error"]["message"]
    resumed = rounds.client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    rounds.tick()
    live = _live_round(rounds, campaign_id)
    short = rounds.client.post(
        f"/api/v1/campaigns/{campaign_id}/cancel", json={"reason": "no"}, headers=headers
    )
    assert short.status_code == 422 and short.json()["error"]["field"] == "reason"
    cancelled = rounds.client.post(
        f"/api/v1/campaigns/{campaign_id}/cancel",
        json={"reason": "the data were mislabelled"},
        headers=headers,
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    stopped = rounds.round(live["id"])
    assert stopped["status"] == "failed" and "mislabelled" in stopped["reason"]
    actions = list(rounds.db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    rounds.db.rollback()
    assert {"campaign_paused", "campaign_resumed", "campaign_cancelled"} <= set(actions)
    # A cancelled campaign cannot be resumed, and a new one may start for the disease.
    late = rounds.client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=headers)
    assert late.status_code == 409
    assert _start(rounds, rounds=1).status_code == 201


def test_a_round_without_enough_hospitals_is_skipped_and_retried(rounds: Rounds) -> None:
    body_round = {**ROUND, "join_seconds": 30}
    campaign_id = _start(rounds, rounds=1, retry_seconds=60, max_skips=2, round=body_round).json()[
        "id"
    ]
    rounds.tick()
    first = _live_round(rounds, campaign_id)
    rounds.join(first["id"], 0)  # one of the three hospitals needed
    rounds.tick(after_seconds=31)
    assert rounds.round(first["id"])["status"] == "failed"
    state = _campaign(rounds, campaign_id)
    assert state["progress"]["skipped"] == 1 and state["status"] == "running"
    assert "next scheduled round" in state["waiting_for"]
    rounds.tick(after_seconds=100)  # retry_seconds after the failed round closed
    second = _live_round(rounds, campaign_id)
    assert second["id"] != first["id"]
    rounds.tick(after_seconds=200)
    rounds.tick(after_seconds=400)
    ended = _campaign(rounds, campaign_id)
    assert (
        ended["status"] == "finished"
        and "2 rounds in a row found too few hospitals" in ended["reason"]
    )


def test_a_hospital_that_leaves_does_not_stop_the_campaign(rounds: Rounds) -> None:
    campaign_id = _start(rounds, rounds=2, round={**ROUND, "min_hospitals": 2}).json()["id"]
    rounds.tick()
    rounds.complete(_live_round(rounds, campaign_id)["id"], 0.8, 0.8)
    rounds.tick()
    second = _live_round(rounds, campaign_id)
    rounds.complete(second["id"], 0.8, 0.8, hospitals=2)  # the third hospital has left
    rounds.tick()
    assert _campaign(rounds, campaign_id)["status"] == "finished"


def test_the_campaign_never_opens_a_round_twice(rounds: Rounds) -> None:
    campaign_id = _start(rounds, rounds=3).json()["id"]
    factory = rounds.client.app.state.session_factory  # type: ignore[attr-defined]
    now = utcnow() + timedelta(seconds=1)
    assert campaigns.advance(factory, campaign_id, now) == "opened"
    assert campaigns.advance(factory, campaign_id, now) is None  # its round is live
    assert campaigns.advance_all(factory, now) == {}
    linked = rounds.db.scalars(
        select(CampaignRound).where(CampaignRound.campaign_id == campaign_id)
    )
    assert len(list(linked)) == 1
    rounds.db.rollback()


def test_a_round_opened_by_hand_is_waited_for(rounds: Rounds) -> None:
    by_hand = rounds.open()
    campaign_id = _start(rounds, rounds=1).json()["id"]
    rounds.tick()
    state = _campaign(rounds, campaign_id)
    assert state["rounds"] == [] and "another round" in state["waiting_for"]
    assert rounds.round(by_hand["id"])["status"] == "open"


@pytest.mark.parametrize(
    ("body", "field", "phrase"),
    [
        (
            {"rounds": 10, "epsilon_budget": 0.001},
            "epsilon_budget",
            "below what DP-SGD can certify",
        ),
        ({"start_at": "2020-01-01T00:00:00+00:00"}, "start_at", "in the past"),
        ({"schedule": "every"}, "every_seconds", "every_seconds"),
        ({"schedule": "at", "times": ["2020-01-01T00:00:00Z"]}, "times", "in the past"),
        ({"round": {**ROUND, "join_seconds": 1e308}}, None, "join_seconds must be at most"),
        ({"round": {**ROUND, "target_epsilon": 1}}, "round.target_epsilon", "epsilon_budget"),
        ({"disease": "scurvy"}, "disease", "scurvy"),
    ],
)
def test_impossible_campaigns_are_refused_with_the_field_named(
    rounds: Rounds, body: dict[str, Any], field: str | None, phrase: str
) -> None:
    response = _start(rounds, **body)
    assert response.status_code in (404, 422), response.text
    error = response.json()["error"]
    assert phrase in error["message"]
    if field:
        assert error["field"] == field
    assert rounds.db.scalar(select(Round.id)) is None
    rounds.db.rollback()


def test_zero_rounds_and_a_second_campaign_are_refused(rounds: Rounds) -> None:
    zero = _start(rounds, rounds=0)
    assert zero.status_code == 422 and "rounds" in zero.text
    assert _start(rounds, rounds=2).status_code == 201
    second = _start(rounds, rounds=2)
    assert second.status_code == 409 and second.json()["error"]["field"] == "disease"
    doctor_view = rounds.client.get("/api/v1/campaigns", headers={})
    assert doctor_view.status_code == 401
