"""Login limits counted in the database: every server process (here: two engines, two
throttles, as two processes on two machines would have) sees the same counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from medfed.server.db.engine import make_engine, make_session_factory, transaction
from medfed.server.db.migrate import upgrade_to_head
from medfed.server.services.throttle import Throttle

Run = Callable[[Callable[[Session], object]], object]


@pytest.fixture
def two_processes(database_url: str) -> Iterator[tuple[Run, Run, list[float]]]:
    now = [1_000_000.0]
    engines = [make_engine(database_url) for _ in range(2)]
    upgrade_to_head(engines[0])
    runners = []
    for engine in engines:
        factory = make_session_factory(engine)

        def run(work: Callable[[Session], object], factory=factory) -> object:  # type: ignore[no-untyped-def]
            with transaction(factory) as session:
                return work(session)

        runners.append(run)
    yield runners[0], runners[1], now
    for engine in engines:
        engine.dispose()


def _throttle(now: list[float]) -> Throttle:
    return Throttle(
        rate_limit=3, window_seconds=60, max_failures=3, lockout_seconds=900, clock=lambda: now[0]
    )


def test_attempts_per_address_are_counted_across_processes(
    two_processes: tuple[Run, Run, list[float]],
) -> None:
    first, second, now = two_processes
    a, b = _throttle(now), _throttle(now)
    assert first(lambda s: a.hit(s, "10.0.0.1")) == 0
    assert second(lambda s: b.hit(s, "10.0.0.1")) == 0
    assert first(lambda s: a.hit(s, "10.0.0.1")) == 0
    assert second(lambda s: b.hit(s, "10.0.0.1")) == 60  # the fourth, wherever it lands
    assert first(lambda s: a.hit(s, "10.0.0.2")) == 0  # other addresses are not affected
    now[0] += 45
    assert first(lambda s: a.hit(s, "10.0.0.1")) == 15
    now[0] += 16
    assert second(lambda s: b.hit(s, "10.0.0.1")) == 0  # a new window


def test_wrong_passwords_lock_the_pair_out_everywhere_and_only_that_pair(
    two_processes: tuple[Run, Run, list[float]],
) -> None:
    first, second, now = two_processes
    a, b = _throttle(now), _throttle(now)
    first(lambda s: a.failed(s, "dr.house", "10.0.0.1"))
    second(lambda s: b.failed(s, "dr.house", "10.0.0.1"))
    assert not first(lambda s: a.blocked(s, "dr.house", "10.0.0.1"))
    second(lambda s: b.failed(s, "dr.house", "10.0.0.1"))  # the third, on the other process
    assert first(lambda s: a.blocked(s, "dr.house", "10.0.0.1"))
    assert second(lambda s: b.blocked(s, "dr.house", "10.0.0.1"))
    assert not first(lambda s: a.blocked(s, "dr.house", "10.9.9.9"))  # the owner elsewhere
    assert not first(lambda s: a.blocked(s, "dr.wilson", "10.0.0.1"))
    now[0] += 901
    assert not second(lambda s: b.blocked(s, "dr.house", "10.0.0.1"))


def test_a_success_ends_the_run_of_failures(
    two_processes: tuple[Run, Run, list[float]],
) -> None:
    first, second, now = two_processes
    a, b = _throttle(now), _throttle(now)
    for _ in range(2):
        first(lambda s: a.failed(s, "nurse", "10.0.0.3"))
    second(lambda s: b.succeeded(s, "nurse", "10.0.0.3"))
    for _ in range(2):
        first(lambda s: a.failed(s, "nurse", "10.0.0.3"))
    assert not second(lambda s: b.blocked(s, "nurse", "10.0.0.3"))
