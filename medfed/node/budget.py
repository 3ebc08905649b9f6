"""What a contribution will cost the hospital's privacy ledger, known before it trains.

The noise of a DP contribution follows from its target, the rows, the batch size and the steps
(the same calculation training makes), so its charge to the ledger, the increase of the
Renyi-composed total, can be checked against the cap before any row is touched.
"""

from __future__ import annotations

import math

from medfed.core.errors import PermissionDenied
from medfed.fl.privacy import Spend, check_budget, choose_delta
from medfed.ml.accounting import Mechanism, composed_epsilon, noise_for
from medfed.node.state import NodeState


def planned_charge(
    state: NodeState,
    disease: str,
    *,
    target: float | None,
    budget_rounds: int,
    rows: int,
    batch_size: int,
    steps: int | None,
    epochs: int,
) -> float:
    """The epsilon the ledger would be charged; infinite without DP."""
    if target is None:
        return math.inf
    delta = choose_delta(rows)
    batches = max(1, math.ceil(rows / batch_size))
    per_round = steps if steps is not None else batches * epochs
    noise = noise_for(target, delta, batches, per_round * max(1, budget_rounds))
    mechanism = Mechanism(noise, 1.0 / batches, per_round)
    alone = composed_epsilon([mechanism], delta)
    return state.charge(disease, mechanism, Spend(alone, delta))


def require_room(state: NodeState, disease: str, planned: float, cap: float, what: str) -> None:
    """Refuses, saying what is spent and what is left, when `planned` does not fit under `cap`."""
    decision = check_budget(state.spent(disease), planned, cap)
    if not decision.allowed:
        raise PermissionDenied(
            f"{what} would spend epsilon {planned:.3g}, but {decision.spent:.3g} of the cap "
            f"{cap:g} is spent and {decision.remaining:.3g} is left. The hospital's data is "
            "protected: no more contributions for this disease."
        )
