"""The round state machine, the validation gate and the update checks (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medfed.fl import rounds as machine
from medfed.fl.rounds import RoundConfig, RoundSnapshot

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STATES = list(machine.ALLOWED)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snap(status: str = machine.OPEN, joins: int = 0, **kwargs: object) -> RoundSnapshot:
    config = kwargs.pop("config", RoundConfig(min_hospitals=3, max_hospitals=5, grace_seconds=10))
    return RoundSnapshot(
        status=status,
        config=config,  # type: ignore[arg-type]
        opened_at=T0,
        join_times=tuple(at(i) for i in range(joins)),
        **kwargs,  # type: ignore[arg-type]
    )


@given(st.sampled_from(STATES), st.sampled_from(STATES))
def test_only_the_drawn_transitions_are_allowed(current: str, target: str) -> None:
    drawn = {
        ("open", "training"),
        ("open", "failed"),
        ("training", "evaluating"),
        ("training", "failed"),
        ("evaluating", "deployed"),
        ("evaluating", "rejected"),
        ("evaluating", "failed"),
    }
    if (current, target) in drawn:
        machine.check_transition(current, target)
    else:
        with pytest.raises(machine.TransitionRefused):
            machine.check_transition(current, target)


def test_finished_rounds_never_move() -> None:
    for status in machine.FINISHED:
        assert machine.next_step(snap(status, joins=5), at(10**6)) is None


def test_the_cohort_waits_for_the_grace_period_after_the_minimum() -> None:
    assert machine.next_step(snap(joins=2), at(5)) is None
    assert machine.next_step(snap(joins=3), at(11)) is None  # third joined at t=2; grace 10
    step = machine.next_step(snap(joins=3), at(12))
    assert step is not None and step.target == machine.TRAINING


def test_a_full_cohort_starts_at_once() -> None:
    step = machine.next_step(snap(joins=5), at(4))
    assert step is not None and step.target == machine.TRAINING and "full" in step.reason


def test_join_deadline_fails_a_small_cohort() -> None:
    config = RoundConfig(min_hospitals=3, join_seconds=60)
    assert machine.next_step(snap(joins=2, config=config), at(59)) is None
    step = machine.next_step(snap(joins=2, config=config), at(60))
    assert step is not None and step.target == machine.FAILED
    assert "only 2 of the 3" in step.reason


def test_training_waits_for_all_then_for_the_deadline() -> None:
    config = RoundConfig(min_hospitals=2, submit_seconds=100, secure=False)
    training = {"status": machine.TRAINING, "joins": 3, "config": config, "cohort_fixed_at": T0}
    secure = {**training, "config": RoundConfig(min_hospitals=2, submit_seconds=100)}
    assert machine.next_step(snap(**secure, submitted=3), at(10**6)) is None  # type: ignore[arg-type]
    assert machine.next_step(snap(**training, submitted=2), at(50)) is None  # type: ignore[arg-type]
    done = machine.next_step(snap(**training, submitted=3), at(1))  # type: ignore[arg-type]
    assert done is not None and done.target == machine.EVALUATING
    late = machine.next_step(snap(**training, submitted=2), at(100))  # type: ignore[arg-type]
    assert late is not None and late.target == machine.EVALUATING
    too_few = machine.next_step(snap(**training, submitted=1), at(100))  # type: ignore[arg-type]
    assert too_few is not None and too_few.target == machine.FAILED


def test_evaluation_ends_when_all_reported_or_at_its_deadline() -> None:
    config = RoundConfig(evaluate_seconds=30)
    evaluating = {"status": machine.EVALUATING, "joins": 3, "config": config, "candidate_at": T0}
    assert machine.next_step(snap(**evaluating, submitted=3, evaluated=2), at(29)) is None  # type: ignore[arg-type]
    for evaluated, when in ((3, 1), (2, 30)):
        step = machine.next_step(snap(**evaluating, submitted=3, evaluated=evaluated), at(when))  # type: ignore[arg-type]
        assert step is not None and step.target == machine.DECIDE


def test_weighted_metric_weights_by_rows_and_skips_missing() -> None:
    reports = [(100, {"accuracy": 0.9}), (300, {"accuracy": 0.5}), (50, {"accuracy": None})]
    assert machine.weighted_metric(reports, "accuracy") == pytest.approx(0.6)
    assert machine.weighted_metric([], "accuracy") is None


def test_update_checks() -> None:
    assert machine.check_update(np.ones(4) * 0.5, 4, 10.0) == pytest.approx(1.0)
    for vector, words in (
        (np.ones(5), "5 values"),
        (np.array([1.0, np.nan, 0, 0]), "NaN"),
        (np.ones(4) * 100, "norm"),
    ):
        with pytest.raises(machine.UpdateRefused, match=words):
            machine.check_update(vector, 4, 10.0)


def test_config_round_trips_and_reports_problems() -> None:
    config = RoundConfig(strategy="fedadam", strategy_options={"server_learning_rate": 0.05})
    assert RoundConfig.from_dict(config.as_dict()) == config
    problems = RoundConfig(min_hospitals=4, max_hospitals=2, target_epsilon=-1).problems()
    assert any("max_hospitals" in p for p in problems)
    assert any("target_epsilon" in p for p in problems)
    assert RoundConfig(target_epsilon=0.1).problems() == []
    (too_small,) = RoundConfig(target_epsilon=0.001).problems()
    assert "target_epsilon 0.001 is below what DP-SGD can certify" in too_small
    assert "choose a larger epsilon" in too_small


def test_local_steps_must_be_positive_or_none() -> None:
    assert any("local_steps" in p for p in RoundConfig(local_steps=0).problems())
    assert RoundConfig(local_steps=None).problems() == []
    assert RoundConfig().local_steps == 10 and RoundConfig().metric == "brier"


def test_the_validation_share_is_bounded() -> None:
    assert RoundConfig().validation_fraction == 0.2
    assert RoundConfig(validation_fraction=0).problems() == []
    (problem,) = RoundConfig(validation_fraction=0.6).problems()
    assert problem.startswith("validation_fraction must be between 0 and 0.5")


def test_the_promotion_confidence_is_bounded() -> None:
    assert RoundConfig().confidence == 0.90
    assert RoundConfig(confidence=0.95).problems() == []
    (problem,) = RoundConfig(confidence=0.3).problems()
    assert problem.startswith("confidence must be between 0.5 and 0.999")
    assert RoundConfig.from_dict({"tolerance": 0.01}).confidence == 0.90  # rounds before it
