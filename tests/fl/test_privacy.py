from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from medfed.fl.privacy import Spend, check_budget, choose_delta, compose, effective_cap


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1e-5)), max_size=30))
def test_spent_epsilon_only_grows(entries: list[tuple[float, float]]) -> None:
    running = 0.0
    for k in range(len(entries) + 1):
        total = compose(Spend(e, d) for e, d in entries[:k]).epsilon
        assert total >= running - 1e-9
        running = total


@given(st.integers(1, 10**9))
def test_delta_is_small_relative_to_the_population(rows: int) -> None:
    delta = choose_delta(rows)
    assert delta <= 1e-5 and delta <= 1 / (10 * rows)


def test_the_stricter_cap_wins() -> None:
    assert effective_cap(10, 3) == 3 and effective_cap(2, 5) == 2
    assert effective_cap(10, None) == 10 and effective_cap(None, None) == math.inf


def test_budget_decision_reports_what_is_left() -> None:
    decision = check_budget(Spend(9.5, 1e-5), 1.0, 10.0)
    assert not decision.allowed and decision.remaining == 0.5
    assert check_budget(Spend(9.0, 1e-5), 1.0, 10.0).allowed
