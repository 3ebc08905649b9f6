"""Differential-privacy noise for released statistics (pure).

The unit of privacy is one patient row: adding or removing a row changes exactly one cell of a
query's statistics, by at most each component's sensitivity. Every component is divided by its
own sensitivity before noise is drawn, so one row moves the scaled vector by at most 1 in each
of the `touched` components it can reach; that is the L2 (Gaussian) or L1 (Laplace) sensitivity
below.

- Gaussian: the analytic Gaussian mechanism (Balle and Wang, ICML 2018), the smallest sigma with
  Phi(D/(2s) - e s/D) - e^e Phi(-D/(2s) - e s/D) <= delta, found by bisection. Gaussian noise
  adds up across hospitals, which is what lets each add a share of it before secure aggregation.
- Laplace: scale D1 / epsilon, pure epsilon-DP (delta = 0), for one hospital's own release.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GAUSSIAN = "gaussian"
LAPLACE = "laplace"
MECHANISMS = (GAUSSIAN, LAPLACE)
Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def _normal_cdf(x: float) -> float:
    """The standard normal distribution function, through erfc so that tails keep precision."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _gaussian_delta(sigma: float, sensitivity: float, epsilon: float) -> float:
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    return _normal_cdf(a - b) - math.exp(epsilon) * _normal_cdf(-a - b)


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The least noise standard deviation giving (epsilon, delta)-DP at this L2 sensitivity."""
    if epsilon <= 0 or not 0 < delta < 1 or sensitivity <= 0:
        raise ValueError("epsilon and the sensitivity must be positive and 0 < delta < 1")
    low, high = 1e-9 * sensitivity, sensitivity
    while _gaussian_delta(high, sensitivity, epsilon) > delta:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if _gaussian_delta(middle, sensitivity, epsilon) > delta:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return high


@dataclass(frozen=True)
class NoisePlan:
    """How much noise each scaled component gets, for one query at one budget."""

    mechanism: str
    epsilon: float
    delta: float
    touched: int  # components one row can move (each by at most 1 once scaled)
    scale: float  # Gaussian: sigma; Laplace: b (per scaled component)

    @property
    def sd(self) -> float:
        """The standard deviation of the noise on one scaled component."""
        return self.scale if self.mechanism == GAUSSIAN else self.scale * math.sqrt(2)

    def half_width_95(self) -> float:
        """Half the width that holds the noise of one scaled component 95 % of the time."""
        if self.mechanism == GAUSSIAN:
            return Z95 * self.scale
        return self.scale * math.log(1 / 0.05)  # P(|Laplace(b)| > t) = exp(-t / b)


def plan(mechanism: str, epsilon: float, delta: float, touched: int) -> NoisePlan:
    if mechanism not in MECHANISMS:
        raise ValueError(f"unknown mechanism {mechanism!r}; choose {' or '.join(MECHANISMS)}")
    if touched < 1:
        raise ValueError("a row touches at least one component")
    if mechanism == GAUSSIAN:
        return NoisePlan(
            mechanism, epsilon, delta, touched, gaussian_sigma(epsilon, delta, math.sqrt(touched))
        )
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    return NoisePlan(mechanism, epsilon, 0.0, touched, touched / epsilon)


def draw(noise: NoisePlan, size: int, rng: np.random.Generator, share: float = 1.0) -> np.ndarray:
    """Noise for `size` scaled components. `share` < 1 draws one hospital's part of Gaussian noise
    that several add up: variance share x sigma^2, so t hospitals with share 1/t make sigma."""
    if noise.mechanism == GAUSSIAN:
        return rng.normal(0.0, noise.scale * math.sqrt(share), size)
    if share != 1.0:
        raise ValueError("Laplace noise does not add up across hospitals: one hospital adds it all")
    return rng.laplace(0.0, noise.scale, size)
