"""Several live things moved on in one pass: each as far as it goes, a broken one left alone."""

from __future__ import annotations

import logging

import pytest

from medfed.server.services.stepping import advance_each


def test_each_moves_until_nothing_is_due_and_a_failure_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    due = {1: ["training", "evaluating"], 2: ["boom"], 3: ["a", "b", "c", "d", "e", "f"]}
    calls: dict[int, int] = {}

    def step(item: int) -> str | None:
        calls[item] = calls.get(item, 0) + 1
        if not due[item]:
            return None
        status = due[item].pop(0)
        if status == "boom":
            raise RuntimeError("broken")
        return status

    with caplog.at_level(logging.ERROR):
        moved = advance_each([3, 2, 1], step, most=4, what="round", logger=logging.getLogger("t"))
    assert moved == {1: "evaluating", 3: "d"}  # 3 stops at the limit, 2 never moved
    assert calls == {1: 3, 2: 1, 3: 4}
    assert "round 2 could not advance" in caplog.text
