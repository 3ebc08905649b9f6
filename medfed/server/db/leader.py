"""Which server process does the work that must happen once (the round ticker, campaign
scheduling, buffered aggregation), when several serve the same database.

PostgreSQL: a session-level advisory lock, held by a connection kept open for it; if that
process dies or its connection drops, PostgreSQL releases the lock and another process takes it
on its next try. SQLite (one machine by nature): an exclusive `flock` on a file beside the
database, released by the kernel when the process holding it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger("medfed.server.leader")

# An arbitrary constant naming MedFed's ticker lock among the database's advisory locks.
ADVISORY_KEY = 0x4D656446  # "MedF"


class Leadership:
    """`holds()` is true in exactly one process at a time among those that ask."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        url = make_url(str(engine.url))
        self._sqlite_path = Path(url.database or "") if url.get_backend_name() == "sqlite" else None
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    def holds(self) -> bool:
        """Whether this process leads, taking the lead if it is free."""
        if self._sqlite_path is not None:
            return self._holds_file()
        return self._holds_advisory()

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None

    def _holds_file(self) -> bool:
        if self._file is not None:
            return True
        assert self._sqlite_path is not None
        handle = open(f"{self._sqlite_path}.leader", "ab")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        logger.info("process %s now runs the round ticker", os.getpid())
        return True

    def _holds_advisory(self) -> bool:
        if self._connection is not None:
            try:  # still connected, so still holding the lock
                self._connection.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                logger.warning("lost the connection that held the ticker lock")
                self.release()
        try:
            connection = self._engine.connect()
        except SQLAlchemyError:
            return False
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            connection.commit()
        except SQLAlchemyError:
            connection.close()
            return False
        if not taken:
            connection.close()
            return False
        self._connection = connection
        logger.info("process %s now runs the round ticker", os.getpid())
        return True
