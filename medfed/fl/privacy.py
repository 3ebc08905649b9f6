"""Privacy budget arithmetic for a hospital's ledger (pure functions).

Each contribution is (epsilon, delta)-DP by DP-SGD with the RDP accountant (Mironov 2017;
Abadi et al. 2016). Across contributions the ledger uses basic sequential composition
(Dwork & Roth 2014, Theorem 3.16): k mechanisms that are (eps_i, delta_i)-DP together are
(sum eps_i, sum delta_i)-DP. That bound is loose but never understates the spend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

MAX_DELTA = 1e-5


def choose_delta(rows: int) -> float:
    """delta <= min(1e-5, 1 / (10 n)): well below the chance of singling out one of n people."""
    if rows <= 0:
        raise ValueError("rows must be positive")
    return min(MAX_DELTA, 1.0 / (10.0 * rows))


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
