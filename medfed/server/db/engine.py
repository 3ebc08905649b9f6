"""Engine and session factory: SQLite gets WAL, foreign keys and write-ahead locking."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_SECONDS = 30
# PostgreSQL connection pool: POOL_SIZE kept open, up to POOL_OVERFLOW more under load.
POOL_SIZE = 10
POOL_OVERFLOW = 20
# Connections left for work outside requests (the round ticker, start-up, background jobs).
POOL_RESERVE = 10


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
        )
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    database = parsed.database
    if database and database != ":memory:":
        WriteTurns(database).install(engine)
    else:  # one connection per thread, each its own database: nobody to take turns with
        event.listen(engine, "begin", _begin_immediate)
    return engine


# Read-only connections per server process (its event loop runs one read at a time).
READ_SESSIONS = 4


def make_read_engine(url: str) -> Engine:
    """An engine for read-only work beside the writers'. On SQLite its transactions begin
    DEFERRED with `query_only` on: in WAL mode they read a snapshot and never wait for, or
    hold, the write lock. On PostgreSQL: a small pool of its own, so readers never take the
    connections writers need."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=READ_SESSIONS, max_overflow=0)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        pool_size=READ_SESSIONS,
        max_overflow=0,
    )
    event.listen(engine, "connect", _configure_sqlite_reader)
    event.listen(engine, "begin", _begin_deferred)
    return engine


def make_line_engine(url: str) -> Engine:
    """An engine for db/read_line.py: read-only connections in autocommit mode, where each
    statement reads the latest committed state on its own (no BEGIN or ROLLBACK around it);
    on SQLite with `query_only` on, never waiting for the writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            connect_args={"options": "-c default_transaction_read_only=on"},
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=8,
        )
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        isolation_level="AUTOCOMMIT",
        pool_size=2,
        max_overflow=8,
    )
    event.listen(engine, "connect", _configure_sqlite_reader)
    return engine


def request_sessions(engine: Engine) -> int:
    """How many requests may hold a database session at once.

    SQLite lets one transaction write at a time (and every MedFed transaction begins
    IMMEDIATE), so one. PostgreSQL: the pool less a reserve for work outside requests, so a
    burst of requests can never take the connection a lock holder is waiting for.
    """
    if engine.dialect.name == "sqlite":
        return 1
    return POOL_SIZE + POOL_OVERFLOW - POOL_RESERVE


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite so that every transaction begins IMMEDIATE:
    # a read that later writes can then never fail half-way with "database is locked".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _configure_sqlite_reader(dbapi_connection: Any, record: Any) -> None:
    _configure_sqlite_connection(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


# Straight to the driver: SQLAlchemy's own execution path (an execution context, events, a
# result) costs more than SQLite's BEGIN itself, twice per prediction.
def _begin_deferred(connection: Any) -> None:
    connection.connection.driver_connection.execute("BEGIN")


def _begin_immediate(connection: Any) -> None:
    connection.connection.driver_connection.execute("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


class WriteTurns:
    """Whose turn it is to write to one SQLite file, among this process's threads and the other
    server processes sharing it.

    Every write transaction begins IMMEDIATE, so SQLite lets one run at a time; but its own wait
    for that lock polls, sleeping 1, 2, 5, 10 ... up to 100 ms between tries, so a request, the
    round ticker and the group-commit thread that met there lost up to 180 ms each time, and a
    busy neighbour could win every try. Here a writer takes a thread lock and then an `flock`
    beside the database (waits that end the moment the holder lets go) before its BEGIN, and
    gives both back after its COMMIT or ROLLBACK. The engine's events do this for every
    transaction on it, so no caller can forget.
    """

    def __init__(self, database: str) -> None:
        self._lock = threading.Lock()
        self._path = f"{database}.writers"
        self._file: IO[bytes] | None = None

    def take(self) -> None:
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        try:
            if self._file is None:
                self._file = open(self._path, "ab")  # noqa: SIM115 (kept open for the process)
            fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise

    def give_back(self) -> None:
        try:
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def install(self, engine: Engine) -> None:
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end("COMMIT"))
        event.listen(engine, "rollback", self._end("ROLLBACK"))
        event.listen(engine.pool, "reset", self._on_reset)
        event.listen(engine.pool, "checkin", self._returned)
        event.listen(engine.pool, "invalidate", self._on_invalidate)

    def _begin(self, connection: Any) -> None:
        self.take()
        try:
            _begin_immediate(connection)
        except BaseException:
            self.give_back()
            raise
        connection.info[_HOLDS_TURN] = True

    def _end(self, statement: str) -> Callable[[Any], None]:
        # The statement runs here, so the turn is given back only once it is done; pysqlite's
        # own commit() or rollback() that follows finds no transaction and does nothing.
        def end(connection: Any) -> None:
            # A connection thrown away gave the turn back then (the pool's "invalidate").
            if connection.invalidated or not connection.info.pop(_HOLDS_TURN, False):
                return
            self._finish(connection.connection.driver_connection, statement)

        return end

    def _finish(self, driver: Any, statement: str) -> None:
        """End the open transaction, if any, then give the turn back whatever happened."""
        try:
            if driver is not None and driver.in_transaction:
                driver.execute(statement)
        finally:
            self.give_back()

    # The pool's events, each with the signature SQLAlchemy expects of it.
    def _on_reset(self, dbapi_connection: Any, record: Any, reset_state: Any) -> None:
        self._returned(dbapi_connection, record)

    def _on_invalidate(self, dbapi_connection: Any, record: Any, exception: Any) -> None:
        self._returned(dbapi_connection, record)

    def _returned(self, dbapi_connection: Any, record: Any) -> None:
        """A connection back in the pool, or thrown away, never keeps the turn (nothing should
        leave one open, but a lost turn would stop every writer)."""
        if record is None or not record.info.pop(_HOLDS_TURN, False):
            return
        with contextlib.suppress(sqlite3.Error):  # a broken connection: closing it ends it
            self._finish(dbapi_connection, "ROLLBACK")


_HOLDS_TURN = "medfed_holds_write_turn"
