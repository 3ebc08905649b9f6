"""Privacy budget arithmetic for a hospital's ledger (pure functions).

Each contribution is (epsilon, delta)-DP by DP-SGD with the RDP accountant (Mironov 2017;
Abadi et al. 2016). Across contributions the node composes under Renyi DP too (ml/accounting.py)
and charges its ledger each contribution's increase of the composed total, so ledgers add up as
under basic sequential composition (Dwork & Roth 2014, Theorem 3.16), which is what `compose`
and `check_budget` do with them. Entries made before that composition are added as they are.

One contribution's epsilon comes from Renyi-DP at a list of orders alpha, converted to
(epsilon, delta) by epsilon = rdp(alpha) - (log delta + log alpha) / (alpha - 1)
+ log((alpha - 1) / alpha) (Balle et al. 2020, Theorem 21, as Opacus computes it). However much
noise is added, rdp(alpha) only falls to 0, so the orders searched set a floor below which no
epsilon can be certified: with orders up to 63 (Opacus's default) that floor is 0.103 at
delta 1e-5, which is more than a budget of 1 spread over 10 rounds. MedFed searches higher orders.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

MAX_DELTA = 1e-5

# Renyi orders the accountant searches: Opacus's default list (up to 63), then higher orders that
# only tighten the bound for strong privacy (small epsilon). Training and its reported epsilon
# use the same list.
COMMON_ORDERS: tuple[float, ...] = tuple(1 + x / 10 for x in range(1, 100)) + tuple(
    float(a) for a in range(12, 64)
)
RDP_ORDERS: tuple[float, ...] = (
    COMMON_ORDERS
    + tuple(float(a) for a in range(64, 128, 8))
    + (128.0, 160.0, 192.0, 256.0, 320.0, 384.0, 512.0, 768.0, 1024.0)
)


def orders_for(epsilon: float, delta: float) -> tuple[float, ...]:
    """The orders worth searching for a target. The best order is near 1 + 2 log(1/delta) / epsilon
    (for the Gaussian mechanism); the high orders cost ten times the rest to evaluate and are
    searched only when that estimate is past three quarters of the common list's largest."""
    best = 1 + 2 * math.log(1 / delta) / epsilon
    return RDP_ORDERS if best > 0.75 * COMMON_ORDERS[-1] else COMMON_ORDERS


def epsilon_floor(delta: float) -> float:
    """The smallest epsilon the accountant can certify at `delta`, approached as noise grows."""
    if not 0 < delta < 1:
        raise ValueError("delta must be between 0 and 1")
    return min(
        -(math.log(delta) + math.log(order)) / (order - 1) + math.log((order - 1) / order)
        for order in RDP_ORDERS
    )


def smallest_epsilon(delta: float) -> float:
    """A little above the floor: the smallest epsilon MedFed accepts, reached with finite noise."""
    return epsilon_floor(delta) * 1.01


def certifiable(epsilon: float, delta: float) -> bool:
    """Whether DP-SGD can be tuned to (epsilon, delta)."""
    return epsilon >= smallest_epsilon(delta)


def choose_delta(rows: int) -> float:
    """delta <= min(1e-5, 1 / (10 n)): well below the chance of singling out one of n people."""
    if rows <= 0:
        raise ValueError("rows must be positive")
    return min(MAX_DELTA, 1.0 / (10.0 * rows))


# The nodes' SGD step when the administrator leaves it to MedFed (`default_learning_rate`).
LEARNING_RATE = 0.05
DP_LEARNING_RATE = 0.2  # for a hidden-layer network (MLP) under DP-SGD


def default_learning_rate(target_epsilon: float | None, architecture: str) -> float:
    """The learning rate a node trains with when the round or job leaves it blank.

    DP-SGD clips every row's gradient to norm 1 before averaging (`max_grad_norm`). An MLP's
    per-row gradient spans all its weights (161 for diabetes) and is clipped far below its own
    length, so at the plain rate its clipped steps move it too little in a round's few steps:
    diabetes under DP stayed near "always no" at lr 0.05 and trains at 0.2. A logistic model's
    gradient is short (one weight per input) and barely clipped; at 0.2 its checkpoints jitter
    with four times the noise, which the promotion test cannot see through (heart under DP was
    promoted in 1 to 3 of 10 rounds instead of 5 to 10). The noise is added before the step,
    so the rate scales signal and noise alike and costs no privacy. Both measured in the
    README's privacy table.
    """
    if target_epsilon is not None and architecture == "mlp":
        return DP_LEARNING_RATE
    return LEARNING_RATE


@dataclass(frozen=True)
class Spend:
    epsilon: float
    delta: float


def compose(spends: Iterable[Spend]) -> Spend:
    epsilon = delta = 0.0
    for spend in spends:
        epsilon += spend.epsilon
        delta += spend.delta
    return Spend(epsilon, delta)


def effective_cap(server_cap: float | None, local_cap: float | None) -> float:
    """The stricter of the network's cap and the hospital's own: the data owner can only tighten."""
    caps = [cap for cap in (server_cap, local_cap) if cap is not None]
    return min(caps) if caps else math.inf


@dataclass(frozen=True)
class BudgetDecision:
    allowed: bool
    spent: float
    planned: float
    cap: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.cap - self.spent)


def check_budget(spent: Spend, planned_epsilon: float, cap: float) -> BudgetDecision:
    return BudgetDecision(
        spent.epsilon + planned_epsilon <= cap + 1e-12, spent.epsilon, planned_epsilon, cap
    )
