"""How long a node waits before it calls the server again after a failed call.

Exponential with full jitter: after the n-th failure in a row, a uniform draw from 0 to
first·2ⁿ, capped. A restarted server is then not met by every node of the network in the same
second, and a node whose server is away for long asks about twice a minute.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 0.5
    limit: float = 30.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The wait before the next try, counting one more failure."""
        ceiling = min(self.limit, self.first * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return max(self.first / 10, self.rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        self.failures = 0
