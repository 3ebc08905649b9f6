"""The round bell between server processes (PostgreSQL LISTEN/NOTIFY): a ring in one process
rings in the others, not twice in its own; on SQLite there is no such channel."""

from __future__ import annotations

import time

import pytest

from medfed.core.config import Settings
from medfed.server.bell import Bell, Ring
from medfed.server.db import notify
from medfed.server.db.engine import make_engine
from medfed.server.db.notify import PgRelay


def test_a_ring_reaches_the_other_processes_bells(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    if not notify.supports(engine):
        assert settings.is_sqlite
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite's several processes re-check")
    here, there = Bell(), Bell()
    relays = [PgRelay(engine, here), PgRelay(engine, there)]
    for relay in relays:
        relay.start()
    try:
        for relay in relays:
            assert relay.listening.wait(10)
        here.ring(Ring(frozenset({7})))
        deadline = time.monotonic() + 10
        while there.rings == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert there.rings == 1 and there.kick.is_set()
        time.sleep(0.3)
        assert here.rings == 1  # its own ring came back on the channel and was ignored
    finally:
        for relay in relays:
            relay.stop()
        engine.dispose()
