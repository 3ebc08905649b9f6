from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medfed.fl.strategies import STRATEGIES, FedAdam, FedYogi, RoundUpdates, make_strategy


def round_of(updates: list[list[float]], weights: list[float]) -> RoundUpdates:
    return RoundUpdates.plain(np.asarray(updates), np.asarray(weights))


def test_fedavg_moves_the_model_by_the_weighted_mean() -> None:
    strategy = make_strategy("fedavg")
    combined = strategy.reduce(round_of([[1.0, 0.0], [0.0, 1.0]], [300, 100]))
    new, _ = strategy.apply(np.zeros(2), combined, {})
    assert np.allclose(new, [0.75, 0.25])


def test_fedprox_tells_hospitals_its_mu_and_fedavg_sets_zero() -> None:
    assert (
        make_strategy("fedprox", proximal_mu=0.1).client_settings({"epochs": 5})["proximal_mu"]
        == 0.1
    )
    assert make_strategy("fedavg").client_settings({"proximal_mu": 3})["proximal_mu"] == 0.0


def test_secure_mode_gives_the_same_fedavg_from_the_sum_alone() -> None:
    updates, weights = np.asarray([[1.0, 2.0], [3.0, -1.0]]), np.asarray([10.0, 30.0])
    plain = make_strategy("fedavg").reduce(RoundUpdates.plain(updates, weights))
    secure = make_strategy("fedavg").reduce(
        RoundUpdates.secure((weights @ updates) / weights.sum(), int(weights.sum()))
    )
    assert np.allclose(plain, secure)


@pytest.mark.parametrize("name", ["median", "trimmed_mean"])
def test_robust_rules_refuse_secure_mode(name: str) -> None:
    with pytest.raises(ValueError, match="plain mode"):
        make_strategy(name).reduce(RoundUpdates.secure(np.ones(2), 2))
    assert STRATEGIES[name].needs_individual_updates


@pytest.mark.parametrize("cls", [FedAdam, FedYogi])
def test_server_optimisers_step_in_the_update_direction_and_persist_state(
    cls: type[FedAdam],
) -> None:
    strategy = cls()
    delta = np.asarray([0.5, -0.2, 0.0])
    new, state = strategy.apply(np.zeros(3), delta, {})
    assert new[0] > 0 and new[1] < 0 and new[2] == 0
    restored = json.loads(json.dumps(state))  # what the database stores between rounds
    again, state2 = strategy.apply(new, delta, restored)
    assert state2["rounds"] == 2 and np.all(np.abs(again) >= np.abs(new))


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=10))
def test_yogi_second_moment_stays_positive(values: list[float]) -> None:
    strategy, state, parameters = FedYogi(), {}, np.zeros(3)
    for value in values:
        parameters, state = strategy.apply(parameters, np.full(3, value), state)
        assert np.all(np.asarray(state["v"]) >= 0)
        assert np.all(np.isfinite(parameters))


def test_unknown_strategy_is_named() -> None:
    with pytest.raises(ValueError, match="fedsgd"):
        make_strategy("fedsgd")
