from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medfed.ml.accounting import Mechanism, composed_epsilon, increment, noise_for

DELTA = 1e-5


def test_k_contributions_cost_what_one_of_k_times_the_steps_costs() -> None:
    noise = noise_for(1.0, DELTA, batches_per_epoch=6, steps=150)
    one = Mechanism(noise, 1 / 6, 10)
    fifteen = composed_epsilon([one] * 15, DELTA)
    assert fifteen == pytest.approx(composed_epsilon([Mechanism(noise, 1 / 6, 150)], DELTA))
    assert 0.98 <= fifteen <= 1.0, "the noise was set for exactly this budget"
    alone = composed_epsilon([one], DELTA)
    assert 15 * alone > 3 * fifteen, "far below the sum of the separate epsilons"


def test_nothing_costs_nothing_and_no_noise_costs_everything() -> None:
    assert composed_epsilon([], DELTA) == 0.0
    assert composed_epsilon([Mechanism(0.0, 0.1, 5)], DELTA) == math.inf


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.6, 20.0), st.sampled_from([0.02, 0.1, 0.25, 0.5]), st.integers(1, 60)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_ledger_increments_add_up_to_a_valid_bound(
    drawn: list[tuple[float, float, int]],
) -> None:
    mechanisms = [Mechanism(*m) for m in drawn]
    total, basic = 0.0, 0.0
    for index, mechanism in enumerate(mechanisms):
        alone = composed_epsilon([mechanism], DELTA)
        charged = increment(mechanisms[:index], total, mechanism, alone, DELTA)
        assert 0.0 <= charged <= alone + 1e-12
        total += charged
        basic += alone
    # Never more than adding the epsilons up, never less than the composition says.
    assert total <= basic + 1e-9
    assert total >= composed_epsilon(mechanisms, DELTA) - 1e-9
