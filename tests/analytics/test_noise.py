"""DP noise for released statistics: the analytic Gaussian mechanism and Laplace."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medfed.analytics import noise


def test_the_gaussian_sigma_meets_delta_exactly_and_beats_the_classic_bound() -> None:
    for epsilon, delta, sensitivity in (
        (0.5, 1e-5, 1.0),
        (1.0, 1e-6, math.sqrt(3)),
        (4.0, 1e-6, 1.0),
    ):
        sigma = noise.gaussian_sigma(epsilon, delta, sensitivity)
        assert noise._gaussian_delta(sigma, sensitivity, epsilon) <= delta
        assert noise._gaussian_delta(sigma * 0.99, sensitivity, epsilon) > delta  # the least
        if epsilon < 1:  # the classic sqrt(2 ln(1.25/delta)) / epsilon holds there, and is looser
            assert sigma < sensitivity * math.sqrt(2 * math.log(1.25 / delta)) / epsilon
    # More budget, less noise; more sensitivity, proportionally more.
    assert noise.gaussian_sigma(2.0, 1e-6, 1.0) < noise.gaussian_sigma(1.0, 1e-6, 1.0)
    assert noise.gaussian_sigma(1.0, 1e-6, 2.0) == pytest.approx(
        2 * noise.gaussian_sigma(1.0, 1e-6, 1.0), rel=1e-6
    )


def test_shares_of_gaussian_noise_add_up_to_one_full_draw() -> None:
    plan = noise.plan(noise.GAUSSIAN, 1.0, 1e-6, touched=2)
    rng = np.random.default_rng(7)
    summed = sum(noise.draw(plan, 200_000, rng, share=1 / 4) for _ in range(4))
    assert np.std(summed) == pytest.approx(plan.sd, rel=0.01)
    inside = np.mean(np.abs(summed) <= plan.half_width_95())
    assert inside == pytest.approx(0.95, abs=0.005)


def test_laplace_is_pure_dp_and_its_interval_holds_95_percent() -> None:
    plan = noise.plan(noise.LAPLACE, 0.5, 1e-6, touched=2)
    assert plan.delta == 0.0 and plan.scale == pytest.approx(4.0)  # L1 sensitivity 2 / 0.5
    draws = noise.draw(plan, 200_000, np.random.default_rng(3))
    assert np.mean(np.abs(draws) <= plan.half_width_95()) == pytest.approx(0.95, abs=0.005)
    with pytest.raises(ValueError, match="one hospital adds it all"):
        noise.draw(plan, 3, np.random.default_rng(0), share=0.5)
    with pytest.raises(ValueError, match="unknown mechanism"):
        noise.plan("exponential", 1.0, 1e-6, 1)
