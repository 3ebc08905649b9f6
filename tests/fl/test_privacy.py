from __future__ import annotations

import math
import warnings

from hypothesis import given
from hypothesis import strategies as st
from opacus.accountants import RDPAccountant

from medfed.fl import privacy
from medfed.fl.privacy import (
    RDP_ORDERS,
    Spend,
    certifiable,
    check_budget,
    choose_delta,
    compose,
    effective_cap,
    epsilon_floor,
    smallest_epsilon,
)


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


def test_the_floor_is_what_the_accountant_reaches_with_overwhelming_noise() -> None:
    accountant = RDPAccountant()
    accountant.history = [(1e5, 0.05, 500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the largest order is optimal here, as intended
        reached = accountant.get_epsilon(delta=1e-5, alphas=list(RDP_ORDERS))
        with_default_orders = accountant.get_epsilon(delta=1e-5)
    assert epsilon_floor(1e-5) <= reached < epsilon_floor(1e-5) * 1.001
    # Opacus's default orders stop at 63: they cannot certify 1 spread over 10 rounds.
    assert with_default_orders > 0.1 and certifiable(0.1, 1e-5)


@given(st.floats(1e-12, 1e-5), st.floats(1e-12, 1e-5))
def test_a_smaller_delta_needs_a_larger_epsilon(a: float, b: float) -> None:
    small, large = sorted((a, b))
    assert smallest_epsilon(small) >= smallest_epsilon(large) > epsilon_floor(large)
    assert certifiable(smallest_epsilon(small), large)
    assert not certifiable(epsilon_floor(small), small)


def test_the_default_learning_rate_is_larger_only_for_an_mlp_under_dp() -> None:
    # an MLP's clipped gradients are much shorter than its own; a logistic model's barely are
    assert privacy.default_learning_rate(1.0, "mlp") == privacy.DP_LEARNING_RATE
    assert privacy.DP_LEARNING_RATE > privacy.LEARNING_RATE
    assert privacy.default_learning_rate(None, "mlp") == privacy.LEARNING_RATE
    assert privacy.default_learning_rate(1.0, "logistic") == privacy.LEARNING_RATE
    assert privacy.default_learning_rate(None, "logistic") == privacy.LEARNING_RATE
