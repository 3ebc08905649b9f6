"""A read-only connection kept open for the event loop's own short reads.

The hottest reads (a bearer token and its user, the version serving a disease) are one
indexed statement each. Through an ORM session they cost about 190 µs on SQLite: a pool
checkout, a session, BEGIN and ROLLBACK, and ORM instances, where the statement itself takes a
few. Here each event-loop thread keeps one connection of `engine.make_line_engine` (autocommit,
read-only) and a unit gets rows, not ORM instances: about 20 µs in all.

Each statement reads the latest committed state on its own: a unit of several statements gets
no snapshot across them, so a unit here is one statement (anything more takes a session).
A unit runs to completion on the thread that called it (no awaits inside), so one connection per
thread is never used by two units at once. A connection the database dropped (a restart) is
replaced and the unit run once more: it only reads, so running it again is safe.

On PostgreSQL a statement is a round trip to another process that shares the machine's cores:
while it waits for the database to be scheduled, an event loop running it inline could answer
nothing else (a liveness probe behind a burst of predictions waited 50 ms and more). There the
line keeps a few threads of its own, each with its connection, and the loop awaits the unit
(`pool`). On SQLite the statement runs in-process in microseconds, and a thread hop would cost
more than it saves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


class ReadLine:
    def __init__(self, engine: Engine, *, threads: int = 0) -> None:
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Connection] = []  # every thread's, to close them at shutdown
        # Threads of the line's own for a database across the network (None: run inline).
        self.pool = (
            ThreadPoolExecutor(threads, thread_name_prefix="medfed-read-line") if threads else None
        )

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work` on this thread's connection."""
        connection = self._connection()
        try:
            return work(connection)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        self._drop(connection)
        return work(self._connection())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            connection.close()

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                self._drop(connection)
            connection = self._engine.connect()
            self._local.connection = connection
            with self._lock:
                self._open.append(connection)
        return connection

    def _drop(self, connection: Connection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        connection.close()
