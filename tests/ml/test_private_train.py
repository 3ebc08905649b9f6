from __future__ import annotations

import math

import numpy as np
import pytest
from opacus.accountants import RDPAccountant

from medfed.core.errors import PrivacyTargetUnreachable
from medfed.fl.privacy import COMMON_ORDERS, RDP_ORDERS, orders_for, smallest_epsilon
from medfed.ml.model import Architecture, forward_logits
from medfed.ml.private_train import LocalTrainingConfig, train_locally


def data(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(rows, 4))
    labels = (inputs[:, 0] - inputs[:, 1] + rng.normal(size=rows) * 0.5 > 0).astype(np.uint8)
    return inputs, labels


@pytest.mark.parametrize("target", [0.5, 1.0, 3.0])
def test_reported_epsilon_matches_opacus_accountant_for_the_same_steps(target: float) -> None:
    inputs, labels = data()
    config = LocalTrainingConfig(epochs=3, batch_size=40, target_epsilon=target, delta=1e-5, seed=1)
    result = train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), config)
    accountant = RDPAccountant()
    accountant.history = [(result.noise_multiplier, result.sample_rate, result.steps)]
    assert orders_for(target, 1e-5) == COMMON_ORDERS  # Opacus's default list
    assert abs(accountant.get_epsilon(delta=1e-5) - result.epsilon) < 1e-9
    assert result.epsilon <= target and result.noise_multiplier > 0
    # Searching the high orders too would not have found a tighter bound for such targets.
    assert abs(accountant.get_epsilon(delta=1e-5, alphas=list(RDP_ORDERS)) - result.epsilon) < 1e-9


def test_strong_privacy_below_the_default_accountants_floor_trains() -> None:
    # 1 per hospital over 10 rounds: Opacus's default orders cannot certify 0.1 at delta 1e-5.
    inputs, labels = data()
    config = LocalTrainingConfig(epochs=2, batch_size=40, target_epsilon=0.1, delta=1e-5, seed=2)
    result = train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), config)
    assert 0.09 <= result.epsilon <= 0.1 and np.isfinite(result.parameters).all()
    assert orders_for(0.1, 1e-5) == RDP_ORDERS


def test_an_epsilon_no_noise_can_certify_is_refused_with_the_smallest_that_works() -> None:
    inputs, labels = data()
    config = LocalTrainingConfig(epochs=2, batch_size=40, target_epsilon=0.001, delta=1e-5)
    with pytest.raises(PrivacyTargetUnreachable) as refused:
        train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), config)
    message = refused.value.message
    assert "cannot be certified at epsilon 0.001" in message
    assert f"{smallest_epsilon(1e-5):.2g}" in message and "Choose a larger epsilon" in message


def test_without_dp_epsilon_is_infinite_and_the_model_learns() -> None:
    inputs, labels = data()
    result = train_locally(
        Architecture("logistic"),
        inputs,
        labels,
        np.zeros(5),
        LocalTrainingConfig(epochs=10, target_epsilon=None, seed=0),
    )
    assert math.isinf(result.epsilon) and result.delta == 0.0
    assert result.parameters[0] > 0.5 and result.parameters[1] < -0.5


def test_fedprox_keeps_the_update_closer_to_the_global_model() -> None:
    inputs, labels = data()
    start = np.zeros(5)
    free = train_locally(
        Architecture("logistic"),
        inputs,
        labels,
        start,
        LocalTrainingConfig(epochs=10, target_epsilon=None, seed=0),
    )
    held = train_locally(
        Architecture("logistic"),
        inputs,
        labels,
        start,
        LocalTrainingConfig(epochs=10, target_epsilon=None, proximal_mu=5.0, seed=0),
    )
    assert np.linalg.norm(held.parameters - start) < 0.7 * np.linalg.norm(free.parameters - start)


def test_unseeded_runs_draw_different_noise() -> None:
    inputs, labels = data()
    config = LocalTrainingConfig(epochs=1, target_epsilon=1.0, delta=1e-5)
    first = train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), config)
    second = train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), config)
    assert not np.allclose(first.parameters, second.parameters)


@pytest.mark.parametrize(("rows", "steps"), [(400, 7), (30, 12)])
def test_local_steps_take_exactly_that_many_steps_whatever_the_hospitals_size(
    rows: int, steps: int
) -> None:
    inputs, labels = data(rows)
    plain = LocalTrainingConfig(steps=steps, batch_size=40, target_epsilon=None, seed=3)
    assert (
        train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), plain).steps == steps
    )
    # Under DP the accountant is charged for exactly those steps and stays within the target.
    private = LocalTrainingConfig(steps=steps, batch_size=40, target_epsilon=1.0, seed=3)
    result = train_locally(Architecture("logistic"), inputs, labels, np.zeros(5), private)
    assert result.steps == steps and result.epsilon <= 1.0
    accountant = RDPAccountant()
    accountant.history = [(result.noise_multiplier, result.sample_rate, steps)]
    assert abs(accountant.get_epsilon(delta=1e-5) - result.epsilon) < 1e-6


def test_a_categorical_model_learns_its_classes_with_and_without_dp() -> None:
    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(3000, 2))
    score = inputs[:, 0] + 0.3 * rng.normal(size=3000)
    labels = np.digitize(score, [-0.5, 0.5]).astype(np.uint8)  # low, medium, high
    architecture = Architecture("logistic", outputs=3)
    for target in (None, 3.0):
        result = train_locally(
            architecture,
            inputs,
            labels,
            np.zeros(architecture.parameter_count(2)),
            LocalTrainingConfig(epochs=5, target_epsilon=target, learning_rate=0.5, seed=0),
        )
        logits = forward_logits(architecture, result.parameters, inputs)
        accuracy = float(np.mean(logits.argmax(axis=1) == labels))
        assert accuracy > 0.75, (target, accuracy)
        assert (target is None) == math.isinf(result.epsilon)
