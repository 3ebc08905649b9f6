"""Login limits shared by every server process through the database.

Two counters, one table (`login_throttle`), each a single atomic upsert so that any number of
server processes on any number of machines count together:

- per client address, login attempts in fixed windows of `window_seconds` (`hit`);
- per account name *and* address, wrong passwords in a row: after `max_failures` that pair
  waits `lockout_seconds` (`failed`, `blocked`, `succeeded`). The same name from any other
  address is not affected, so guessing from one place cannot lock the real person out, and
  unknown names are counted the same way, so the answers never tell which accounts exist.

Times are wall-clock seconds (`time.time`), which machines of one network share closely
enough for windows of a minute.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from medfed.server.db.tables import LoginThrottle

FAILURE_RUN_SECONDS = 86_400.0
TIDY_CHANCE = 0.01  # of a hit, to delete rows whose window and lock-out have passed
Clock = Callable[[], float]


def _upsert(session: Session, key: str, now: float, restart_before: float) -> int:
    """Count one event under `key`, starting a new count if the row's window began before
    `restart_before`; the count after this event."""
    table = LoginThrottle.__table__
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    restart = table.c.started_at < restart_before
    statement = (
        insert(table)
        .values(key=key, count=1, started_at=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((restart, 1), else_=table.c.count + 1),
                "started_at": case((restart, now), else_=table.c.started_at),
            },
        )
        .returning(table.c.count)
    )
    return int(session.execute(statement).scalar_one())


class Throttle:
    def __init__(
        self,
        *,
        rate_limit: int,
        window_seconds: float,
        max_failures: int,
        lockout_seconds: float,
        clock: Clock = time.time,
    ) -> None:
        self.rate_limit, self.window = rate_limit, window_seconds
        self.max_failures, self.lockout = max_failures, lockout_seconds
        self._clock = clock

    # Per address -----------------------------------------------------------------------------

    def hit(self, session: Session, address: str) -> int:
        """Count one login attempt from `address`; 0 when allowed, else the seconds to wait."""
        now = self._clock()
        key = f"rate {address}"
        count = _upsert(session, key, now, now - self.window)
        if random.random() < TIDY_CHANCE:  # noqa: S311 - not a secret, a chore's timing
            self._tidy(session, now)
        if count <= self.rate_limit:
            return 0
        started = session.scalar(select(LoginThrottle.started_at).where(LoginThrottle.key == key))
        return max(1, math.ceil((started or now) + self.window - now))

    # Per account and address ----------------------------------------------------------------

    @staticmethod
    def _pair(name: str, address: str) -> str:
        return f"fail {address} {name}"

    def blocked(self, session: Session, name: str, address: str) -> bool:
        until = session.scalar(
            select(LoginThrottle.locked_until).where(LoginThrottle.key == self._pair(name, address))
        )
        return until is not None and until > self._clock()

    def failed(self, session: Session, name: str, address: str) -> None:
        """One more wrong password in a row; the last allowed one starts the wait."""
        now = self._clock()
        key = self._pair(name, address)
        # A run of failures ends with a success, a lock-out, or a day without failures.
        count = _upsert(session, key, now, now - FAILURE_RUN_SECONDS)
        if count >= self.max_failures:
            session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(count=0, locked_until=now + self.lockout)
            )

    def succeeded(self, session: Session, name: str, address: str) -> None:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == self._pair(name, address)))

    def _tidy(self, session: Session, now: float) -> None:
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.key.startswith("rate "),
                LoginThrottle.started_at < now - self.window,
            )
        )
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.key.startswith("fail "),
                LoginThrottle.count == 0,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            )
        )
