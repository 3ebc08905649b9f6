"""Retry delays after failed calls: jittered, growing, capped, and reset by a success."""

from __future__ import annotations

import random

from medfed.node.backoff import Backoff


def test_delays_grow_to_the_cap_with_jitter_and_start_again_after_a_reset() -> None:
    backoff = Backoff(first=0.5, limit=30.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    ceilings = [min(30.0, 0.5 * 2**n) for n in range(12)]
    assert all(0.05 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[8:]) > 5  # later waits reach well past the first ones
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered: no two alike
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 0.5


def test_nodes_restarted_together_do_not_retry_in_step() -> None:
    first = [Backoff(rng=random.Random(seed)) for seed in range(50)]
    for backoff in first:
        for _ in range(5):
            backoff.next_delay()
    sixth = sorted(b.next_delay() for b in first)
    assert sixth[-1] - sixth[0] > 8  # spread over most of the 16 s window
