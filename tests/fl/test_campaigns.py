"""The campaign rule: when a round opens, waits or the campaign ends (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medfed.fl.campaigns import (
    CampaignPlan,
    CampaignSnapshot,
    RoundOutcome,
    line_progress,
    next_action,
)

T0 = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)


def _done(minutes: float, value: float | None, *, promoted: bool = False) -> RoundOutcome:
    opened = T0 + timedelta(minutes=minutes)
    return RoundOutcome("completed", True, opened, opened + timedelta(minutes=1), value, promoted)


def _skipped(minutes: float) -> RoundOutcome:
    opened = T0 + timedelta(minutes=minutes)
    return RoundOutcome("failed", False, opened, opened + timedelta(minutes=10))


def _snap(plan: CampaignPlan, *rounds: RoundOutcome, **extra: object) -> CampaignSnapshot:
    return CampaignSnapshot("running", plan, T0, "accuracy", tuple(rounds), **extra)  # type: ignore[arg-type]


def test_back_to_back_opens_at_once_then_after_each_round() -> None:
    plan = CampaignPlan(rounds=3, patience=None)
    assert next_action(_snap(plan), T0).kind == "open"  # type: ignore[union-attr]
    live = RoundOutcome("live", True, T0)
    assert next_action(_snap(plan, live), T0 + timedelta(hours=1)) is None
    action = next_action(_snap(plan, _done(0, 0.7)), T0 + timedelta(minutes=2))
    assert action is not None and action.kind == "open" and action.reason == "round 2 of 3"


def test_the_plan_ends_after_its_rounds_and_skipped_rounds_do_not_count() -> None:
    plan = CampaignPlan(rounds=2, patience=None, retry_seconds=60)
    rounds = (_done(0, 0.7), _skipped(5), _done(20, 0.71))
    action = next_action(_snap(plan, *rounds), T0 + timedelta(hours=1))
    assert action is not None and action.kind == "finish"
    assert action.reason == "all 2 planned rounds trained"
    # After a skipped round the campaign waits retry_seconds before trying again.
    waiting = next_action(_snap(plan, _done(0, 0.7), _skipped(5)), T0 + timedelta(minutes=15.5))
    assert waiting is not None and waiting.kind == "wait"
    assert waiting.at == T0 + timedelta(minutes=16)


def test_patience_stops_a_line_that_no_longer_improves() -> None:
    plan = CampaignPlan(rounds=10, patience=2)
    improving = (_done(0, 0.70), _done(2, 0.72), _done(4, 0.71))
    assert next_action(_snap(plan, *improving), T0 + timedelta(hours=1)).kind == "open"  # type: ignore[union-attr]
    stalled = (*improving, _done(6, 0.715))
    action = next_action(_snap(plan, *stalled), T0 + timedelta(hours=1))
    assert action is not None and action.kind == "finish"
    assert "not improved for 2 rounds" in action.reason and "0.720" in action.reason


def test_lower_is_better_for_the_brier_score() -> None:
    progress = line_progress((_done(0, 0.20), _done(2, 0.18), _done(4, 0.19)), "brier")
    assert (progress.best, progress.best_round, progress.since_best) == (0.18, 2, 1)


def test_the_best_checkpoint_so_far_is_kept_as_the_candidate_with_whether_it_was_served() -> None:
    def done(minutes: float, value: float, version: str, promoted: bool) -> RoundOutcome:
        opened = T0 + timedelta(minutes=minutes)
        return RoundOutcome("completed", True, opened, opened, value, promoted, version)

    line = (done(0, 0.70, "v1.1", True), done(2, 0.76, "v1.2", False), done(4, 0.74, "v1.3", False))
    progress = line_progress(line, "accuracy")
    assert (progress.best_version, progress.best_promoted, progress.since_best) == (
        "v1.2",
        False,
        1,
    )
    assert line_progress(line[:1], "accuracy").best_promoted


def test_every_interval_keeps_its_slots_and_never_catches_up_twice() -> None:
    plan = CampaignPlan(rounds=5, patience=None, schedule="every", every_seconds=3600)
    after_first = _snap(plan, _done(0, 0.7))
    waiting = next_action(after_first, T0 + timedelta(minutes=30))
    assert waiting is not None and waiting.kind == "wait" and waiting.at == T0 + timedelta(hours=1)
    # The server was down for five hours: one round opens now, the next at the next slot.
    assert next_action(after_first, T0 + timedelta(hours=5)).kind == "open"  # type: ignore[union-attr]
    late = _snap(plan, _done(0, 0.7), _done(300, 0.71))
    waiting = next_action(late, T0 + timedelta(hours=5, minutes=2))
    assert waiting is not None and waiting.at == T0 + timedelta(hours=6)


def test_set_times_open_in_order_and_the_campaign_ends_after_the_last() -> None:
    times = (T0 + timedelta(hours=2), T0 + timedelta(hours=1))
    plan = CampaignPlan(rounds=5, patience=None, schedule="at", times=times)
    first = next_action(_snap(plan), T0)
    assert first is not None and first.kind == "wait" and first.at == T0 + timedelta(hours=1)
    after_both = _snap(plan, _done(60, 0.7), _done(120, 0.7))
    action = next_action(after_both, T0 + timedelta(hours=3))
    assert action is not None and action.kind == "finish" and "scheduled time" in action.reason


def test_a_round_opened_by_hand_makes_the_campaign_wait() -> None:
    plan = CampaignPlan(rounds=3, patience=None)
    action = next_action(_snap(plan, other_round_live=True), T0)
    assert action is not None and action.kind == "wait" and "another round" in action.reason


def test_too_many_skips_in_a_row_end_the_campaign() -> None:
    plan = CampaignPlan(rounds=3, patience=None, max_skips=2)
    action = next_action(_snap(plan, _skipped(0), _skipped(20)), T0 + timedelta(hours=1))
    assert action is not None and action.kind == "finish" and "too few hospitals" in action.reason


def test_paused_and_finished_campaigns_do_nothing() -> None:
    plan = CampaignPlan(rounds=3)
    for status in ("paused", "finished", "cancelled"):
        snapshot = CampaignSnapshot(status, plan, T0, "accuracy")
        assert next_action(snapshot, T0 + timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("plan", "field", "phrase"),
    [
        (CampaignPlan(rounds=0), "rounds", "between 1 and"),
        (CampaignPlan(rounds=10, epsilon_budget=0.001), "epsilon_budget", "can certify"),
        (CampaignPlan(epsilon_budget=float("inf")), "epsilon_budget", "positive number"),
        (CampaignPlan(schedule="every"), "every_seconds", "every_seconds"),
        (CampaignPlan(schedule="every", every_seconds=1e308), "every_seconds", "up to a year"),
        (CampaignPlan(schedule="at"), "times", "at least one"),
        (CampaignPlan(schedule="at", times=(T0 - timedelta(hours=1),)), "times", "in the past"),
        (CampaignPlan(start_at=T0 - timedelta(days=1)), "start_at", "in the past"),
        (CampaignPlan(start_at=T0 + timedelta(days=400)), "start_at", "a year ahead"),
        (CampaignPlan(patience=0), "patience", "at least 1"),
        (CampaignPlan(retry_seconds=float("nan")), "retry_seconds", "positive"),
    ],
)
def test_impossible_plans_are_refused_with_the_field_named(
    plan: CampaignPlan, field: str, phrase: str
) -> None:
    problems = plan.problems(T0)
    assert problems, plan
    assert problems[0][0] == field and phrase in problems[0][1]


def test_a_plan_survives_a_round_trip() -> None:
    plan = CampaignPlan(rounds=4, epsilon_budget=6.0, schedule="at", times=(T0,), start_at=T0)
    assert CampaignPlan.from_dict(plan.as_dict()) == plan


def test_a_budget_over_many_rounds_is_fine_where_an_even_split_could_not_be_certified() -> None:
    # 0.5 over 200 rounds is 0.0025 a round, below the accountant's floor; composed, it is not.
    assert CampaignPlan(rounds=200, epsilon_budget=0.5).problems(T0) == []
