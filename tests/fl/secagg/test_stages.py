"""When a secure-aggregation stage ends (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medfed.fl.secagg import constants as wire
from medfed.fl.secagg.stages import StageSnapshot, next_key_holder, next_stage

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def snap(stage: str, expected: int, received: int) -> StageSnapshot:
    return StageSnapshot(stage, expected, received, threshold=3, started_at=T0, deadline_seconds=60)


def test_a_stage_ends_when_everyone_has_sent() -> None:
    step = next_stage(snap(wire.ADVERTISE_KEYS, 5, 5), T0)
    assert step is not None and step.target == wire.SHARE_KEYS and "all 5" in step.reason


def test_at_the_deadline_t_messages_are_enough_and_fewer_fail_the_round() -> None:
    assert next_stage(snap(wire.MASKED_INPUT, 5, 3), T0 + timedelta(seconds=59)) is None
    step = next_stage(snap(wire.MASKED_INPUT, 5, 3), T0 + timedelta(seconds=60))
    assert step is not None and step.target == wire.UNMASKING
    failed = next_stage(snap(wire.UNMASKING, 5, 2), T0 + timedelta(seconds=60))
    assert failed is not None and failed.target == "failed" and "t = 3" in failed.reason


def test_the_stages_run_in_order_and_done_is_final() -> None:
    order = []
    stage = wire.ADVERTISE_KEYS
    while stage != wire.DONE:
        order.append(stage)
        step = next_stage(snap(stage, 4, 4), T0)
        assert step is not None
        stage = step.target
    assert order == list(wire.STAGES[:-1])
    assert next_stage(snap(wire.DONE, 4, 4), T0) is None


def test_a_homomorphic_round_has_its_own_stages_and_failure_words() -> None:
    order = []
    stage = wire.ADVERTISE_KEYS
    while stage != wire.DONE:
        order.append(stage)
        snapshot = StageSnapshot(stage, 4, 4, 3, T0, 60, mode=wire.HOMOMORPHIC)
        step = next_stage(snapshot, T0)
        assert step is not None
        stage = step.target
    assert order == list(wire.HE_STAGES[:-1])
    alone = next_stage(StageSnapshot(wire.HE_KEYS, 1, 1, 1, T0, 60, mode=wire.HOMOMORPHIC), T0)
    assert alone is not None and alone.reason == "the hospital sent the round's encryption key"
    missing = StageSnapshot(wire.HE_KEYS, 1, 0, 1, T0, 60, mode=wire.HOMOMORPHIC)
    failed = next_stage(missing, T0 + timedelta(seconds=60))
    assert failed is not None and failed.target == "failed"
    assert "this homomorphic round needs at least 1" in failed.reason


def test_the_next_key_holder_is_the_lowest_member_not_passed_over_while_enough_remain() -> None:
    assert next_key_holder([4, 9, 7], passed_over=[4], threshold=2) == 7
    assert next_key_holder([4, 9, 7], passed_over=[4, 7], threshold=1) == 9
    assert next_key_holder([4, 9, 7], passed_over=[4, 7], threshold=2) is None  # 1 left of 2
    assert next_key_holder([4, 9], passed_over=[4, 9], threshold=1) is None
