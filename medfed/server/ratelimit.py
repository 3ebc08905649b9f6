"""A sliding-window limiter per key (client address), kept in the server process."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Count one attempt; returns 0 when allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients so memory stays bounded
                for stale in [k for k, v in self._hits.items() if not v]:
                    del self._hits[stale]
            return 0


class LoginGuard:
    """Failed logins counted per account *and* address, kept in the server process.

    After `max_failures` wrong passwords in a row for one name from one address, that pair
    waits `lockout_seconds`; the same name from any other address is not affected, so guessing
    from one place cannot lock the real person out. Unknown names are counted the same way, so
    the answers never tell which accounts exist."""

    def __init__(
        self,
        max_failures: int,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout = lockout_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], int] = {}
        self._locked: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def blocked(self, name: str, address: str) -> bool:
        key = (name, address)
        with self._lock:
            until = self._locked.get(key)
            if until is None:
                return False
            if until > self._clock():
                return True
            del self._locked[key]
            return False

    def failed(self, name: str, address: str) -> None:
        key = (name, address)
        with self._lock:
            count = self._failures.get(key, 0) + 1
            if count >= self.max_failures:
                self._failures.pop(key, None)
                self._locked[key] = self._clock() + self.lockout
            else:
                self._failures[key] = count
            if len(self._failures) + len(self._locked) > 100_000:  # bounded memory
                now = self._clock()
                self._locked = {k: v for k, v in self._locked.items() if v > now}
                self._failures.clear()

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name, address), None)
