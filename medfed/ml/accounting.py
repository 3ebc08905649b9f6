"""Privacy accounting across a hospital's contributions: Renyi-DP composition (pure math).

One DP-SGD contribution is a subsampled Gaussian mechanism: `steps` steps, each row joining a
step's batch with probability `sample_rate`, Gaussian noise of `noise_multiplier` times the
clipping norm. Renyi DP adds up at every order across any sequence of mechanisms, adaptive ones
included (Mironov 2017, Proposition 1), and converts to (epsilon, delta) once at the end
(Balle et al. 2020, Theorem 21). k contributions therefore cost far less than the sum of their
separate epsilons: 15 rounds of 10 steps at noise 8.4 and sample rate 1/6 cost epsilon 1.0
together, where each alone costs 0.24 and their sum is 3.6.

The ledger records for each contribution the *increase* it causes in the hospital's total, so a
plain sum of ledger entries (at the node, at the server, over one campaign) is the composed
total. An increase is never more than the contribution's own epsilon: where Renyi composition
would say more, basic composition (epsilon adds up) is the tighter valid bound and is used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from medfed.core.errors import PrivacyTargetUnreachable
from medfed.fl.privacy import RDP_ORDERS, certifiable, orders_for, smallest_epsilon


@dataclass(frozen=True)
class Mechanism:
    noise_multiplier: float
    sample_rate: float
    steps: int


def composed_epsilon(mechanisms: Sequence[Mechanism], delta: float) -> float:
    """Epsilon at `delta` of running every mechanism on the same rows, one after the other."""
    if not mechanisms:
        return 0.0
    if any(m.noise_multiplier <= 0 for m in mechanisms):
        return math.inf
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = list(RDP_ORDERS)
    total = np.zeros(len(orders))
    for mechanism in mechanisms:
        total += mechanism.steps * _one_step(mechanism.noise_multiplier, mechanism.sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha": still a bound
        epsilon, _ = get_privacy_spent(orders=orders, rdp=total, delta=delta)
    return float(epsilon)


def increment(
    prior: Sequence[Mechanism],
    prior_total: float,
    new: Mechanism,
    new_alone: float,
    delta: float,
) -> float:
    """What `new` adds to a ledger whose entries for `prior` sum to `prior_total`: the ledger then
    sums to the composed total of all of them (or to prior_total + new_alone when that is less)."""
    composed = composed_epsilon([*prior, new], delta)
    return max(0.0, min(new_alone, composed - prior_total))


@lru_cache(maxsize=1024)
def _one_step(noise_multiplier: float, sample_rate: float) -> np.ndarray:
    """One step's RDP at every order; a mechanism's is its steps times this. A node's ledger
    holds few distinct (noise, rate) pairs, so recomputing a composed total is cheap."""
    from opacus.accountants.analysis.rdp import compute_rdp

    rdp = compute_rdp(
        q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(RDP_ORDERS)
    )
    values = np.asarray(rdp, dtype=float)
    values.setflags(write=False)
    return values


def noise_for(epsilon: float, delta: float, batches_per_epoch: int, steps: int) -> float:
    """The noise multiplier that makes `steps` Poisson-sampled steps, each drawing a batch with
    probability 1 / `batches_per_epoch` per row, (epsilon, delta)-DP."""
    from opacus.accountants.utils import get_noise_multiplier

    if not certifiable(epsilon, delta):
        raise PrivacyTargetUnreachable(_unreachable(epsilon, delta))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(
                get_noise_multiplier(
                    target_epsilon=epsilon,
                    target_delta=delta,
                    sample_rate=1 / max(1, batches_per_epoch),
                    steps=max(1, steps),
                    accountant="rdp",
                    epsilon_tolerance=min(0.01, epsilon / 100),
                    alphas=list(orders_for(epsilon, delta)),
                )
            )
    except ValueError as error:  # Opacus: "The privacy budget is too low."
        raise PrivacyTargetUnreachable(_unreachable(epsilon, delta)) from error


def _unreachable(epsilon: float, delta: float) -> str:
    return (
        f"Differential privacy cannot be certified at epsilon {epsilon:g} with delta {delta:.1g}: "
        f"the smallest epsilon the accountant can certify there is about "
        f"{smallest_epsilon(delta):.2g}. Choose a larger epsilon for this contribution "
        "(for example spread the hospital's budget over fewer rounds)."
    )
