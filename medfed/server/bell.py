"""The round bell: who is told, and when, that federated rounds moved.

Two kinds of listener wait on it. The round ticker (one thread) is kicked whenever something a
round waits for arrives (the last join, update, secure-aggregation message or evaluation), so a
step ends on its last message instead of at the next tick; such a kick names its round, and the
ticker looks at that round alone (a pass over every round and campaign cost more than the step). Nodes' long polls (held requests on
the event loop, no thread and no database session each) are woken when a round they can see
changes status or stage; a ring names the hospitals it concerns, so a message in one round does
not make a thousand idle nodes re-read their listings.

Services never hold the bell: they note on their session what changed (`services.round_events`)
and the bell rings after that session commits, never before (a node woken early would read the
old state). With several server processes, `db/notify.py` relays rings between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

# What a session notes before it commits (see services/round_events.py).
PENDING = "medfed_round_ring"


@dataclass
class Ring:
    """Hospitals whose nodes' listings changed (None: every node's), whether the ticker has
    something new to look at, and what: the rounds named, or (None) every round and campaign."""

    hospitals: frozenset[int] | None = frozenset()
    kick: bool = True
    rounds: frozenset[int] | None = None

    @property
    def look(self) -> frozenset[int] | None:
        """What the ticker should look at: nothing (empty), these rounds, or everything."""
        return self.rounds if self.kick else frozenset()

    def merge(self, other: Ring) -> Ring:
        return Ring(
            _union(self.hospitals, other.hospitals),
            self.kick or other.kick,
            _union(self.look, other.look),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "hospitals": _listed(self.hospitals),
            "kick": self.kick,
            "rounds": _listed(self.rounds),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ring:
        return cls(
            _ids(data.get("hospitals")),
            bool(data.get("kick", True)),
            _ids(data.get("rounds")),  # a sender that names no rounds asks for a full look
        )


def _union(one: frozenset[int] | None, other: frozenset[int] | None) -> frozenset[int] | None:
    return None if one is None or other is None else one | other


def _listed(ids: frozenset[int] | None) -> list[int] | None:
    return None if ids is None else sorted(ids)


def _ids(value: Any) -> frozenset[int] | None:
    return None if value is None else frozenset(int(i) for i in value)


class Subscription:
    """One long poll's ear on the bell, taken before it reads its listing so that a ring
    between that read and the wait is not missed. Used on its event loop's thread only."""

    def __init__(self, hospital_id: int, loop: asyncio.AbstractEventLoop) -> None:
        self.hospital_id = hospital_id
        self.loop = loop
        self._future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:  # on the loop's thread (Bell.ring schedules it there)
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout: float, until: asyncio.Future[Any] | None = None) -> bool:
        """Until a ring concerning this hospital since the last wait (True), the timeout or
        `until` (the client hung up) ends, whichever comes first."""
        awaited: set[asyncio.Future[Any]] = {self._future}
        if until is not None:
            awaited.add(until)
        await asyncio.wait(awaited, timeout=max(timeout, 0.0), return_when=FIRST_COMPLETED)
        rung = self._future.done()
        if rung:
            self._future = self.loop.create_future()
        return rung


class Bell:
    def __init__(self) -> None:
        self.kick = threading.Event()  # the ticker waits on this, with its interval as timeout
        self._lock = threading.Lock()
        self._due: frozenset[int] | None = frozenset()  # what the kicks so far ask to look at
        self._waiters: list[Subscription] = []
        self._relays: list[Callable[[Ring], None]] = []
        self.rings = 0  # for tests and metrics

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def relay_to(self, publish: Callable[[Ring], None]) -> None:
        """Also hand every local ring to `publish` (the other server processes)."""
        self._relays.append(publish)

    def ring(self, ring: Ring, *, relay: bool = True) -> None:
        """Thread-safe: kick the ticker and wake the long polls the ring concerns."""
        if relay:
            for publish in self._relays:
                publish(ring)
        self.rings += 1
        with self._lock:
            if ring.kick:
                self._due = _union(self._due, ring.look)
                self.kick.set()
            woken = [
                w
                for w in self._waiters
                if ring.hospitals is None or w.hospital_id in ring.hospitals
            ]
        for waiter in woken:
            with contextlib.suppress(RuntimeError):  # its loop has closed (shutting down)
                waiter.loop.call_soon_threadsafe(waiter.wake)

    def take_due(self) -> frozenset[int] | None:
        """The rounds the kicks since the last call asked the ticker to look at (None: every
        round and campaign), forgotten once taken."""
        with self._lock:
            due, self._due = self._due, frozenset()
        return due

    @contextlib.contextmanager
    def subscribe(self, hospital_id: int) -> Iterator[Subscription]:
        """Hear the rings concerning this hospital while the block runs (on an event loop)."""
        subscription = Subscription(hospital_id, asyncio.get_running_loop())
        with self._lock:
            self._waiters.append(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._waiters.remove(subscription)

    def watch(self, factory: sessionmaker[Session]) -> None:
        """Ring after each commit of `factory`'s sessions that noted a change; forget the notes
        of a rolled-back transaction."""

        def committed(session: Session) -> None:
            pending: Ring | None = session.info.pop(PENDING, None)
            if pending is not None:
                self.ring(pending)

        def rolled_back(session: Session, _transaction: object) -> None:
            session.info.pop(PENDING, None)

        event.listen(factory, "after_commit", committed)
        event.listen(factory, "after_soft_rollback", rolled_back)


def note(
    session: Session,
    hospitals: Iterable[int] | None,
    *,
    kick: bool = True,
    rounds: Iterable[int] | None = None,
) -> None:
    """Note on `session` that rounds changed for these hospitals' nodes (None: everyone's), and
    with `kick`, that the ticker should look at `rounds` (None: at everything)."""
    ring = Ring(
        None if hospitals is None else frozenset(hospitals),
        kick,
        None if rounds is None else frozenset(rounds),
    )
    pending: Ring | None = session.info.get(PENDING)
    session.info[PENDING] = ring if pending is None else pending.merge(ring)
