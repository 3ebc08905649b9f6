"""The round bell between server processes on one SQLite file (loopback datagrams): a ring in
one process rings in the others and not twice in its own, a forged datagram is dropped, and a
dead process's entry is cleared."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from medfed.server.bell import Bell, Ring
from medfed.server.db import local_notify
from medfed.server.db.engine import make_engine
from medfed.server.db.local_notify import LocalRelay

SECRET = "local-bell-test-secret-0123456789abcdef"


def _until(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_ring_reaches_the_other_processes_bells_and_nothing_else_does(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'medfed.db'}")
    assert local_notify.supports(engine)
    assert not local_notify.supports(make_engine("sqlite://"))
    here, there = Bell(), Bell()
    relays = [LocalRelay(engine, here, SECRET), LocalRelay(engine, there, SECRET)]
    for relay in relays:
        relay.start()
    try:
        here.ring(Ring(frozenset({7}), kick=False))
        assert _until(lambda: there.rings == 1)
        assert not there.kick.is_set()  # the ring arrived as it was sent
        time.sleep(0.2)
        assert here.rings == 1  # its own ring is not sent back to it
        # A ring too large for one datagram wakes every node instead.
        there.ring(Ring(frozenset(range(20_000))))
        assert _until(lambda: here.rings == 2) and here.kick.is_set()

        # Another local program that knows the port but not the key is ignored.
        entry = next(p for p in (tmp_path / "medfed.db.bell").iterdir() if p.name[0] != ".")
        port = int(entry.read_text())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger:
            forger.sendto(b"x" * 16 + b'{"origin": "x", "hospitals": null}', ("127.0.0.1", port))
        time.sleep(0.3)
        assert (here.rings, there.rings) == (2, 2)
    finally:
        for relay in relays:
            relay.stop()
        engine.dispose()
    assert not [p for p in (tmp_path / "medfed.db.bell").iterdir()]  # both entries removed


def test_a_dead_processes_entry_is_cleared_and_not_sent_to(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'medfed.db'}")
    directory = tmp_path / "medfed.db.bell"
    directory.mkdir()
    dead = directory / f"{2**22 + 12345}-{'0' * 32}"  # above Linux's largest pid
    dead.write_text("9")
    bell = Bell()
    relay = LocalRelay(engine, bell, SECRET)
    relay.start()
    try:
        bell.ring(Ring())
        assert not dead.exists()
    finally:
        relay.stop()
        engine.dispose()


def test_processes_with_different_keys_do_not_hear_each_other(tmp_path: Path) -> None:
    secret = "another-secret-key-0123456789abcdefghij"
    engine = make_engine(f"sqlite:///{tmp_path / 'medfed.db'}")
    here, there = Bell(), Bell()
    relays = [LocalRelay(engine, here, SECRET), LocalRelay(engine, there, secret)]
    for relay in relays:
        relay.start()
    try:
        here.ring(Ring())
        time.sleep(0.3)
        assert there.rings == 0
    finally:
        for relay in relays:
            relay.stop()
        engine.dispose()
