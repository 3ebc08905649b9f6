from __future__ import annotations

from medfed.server.ratelimit import SlidingWindowLimiter


def test_window_slides_with_the_clock() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=2, window_seconds=60, clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") == 60
    assert limiter.hit("b") == 0, "other addresses are not affected"
    now[0] = 30.0
    assert limiter.hit("a") == 30
    now[0] = 60.5
    assert limiter.hit("a") == 0
