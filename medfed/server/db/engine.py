"""Engine and session factory: SQLite gets WAL, foreign keys and write-ahead locking."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
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


class WriterTurn:
    """Whose turn it is to write, among the server processes sharing one SQLite file.

    SQLite's own wait for its write lock polls: a writer that finds it taken sleeps 1, 2, 5, 10
    ... up to 100 ms between tries, and a busy neighbour that commits batch after batch can win
    every try, so one process's group commit waited up to half a second. The group-commit
    writers take this `flock` first (a blocking wait the kernel ends the moment the holder lets
    go), so they alternate at once. On PostgreSQL, or for an in-memory database: nothing to do.
    """

    def __init__(self, engine: Engine) -> None:
        url = make_url(str(engine.url))
        database = url.database if url.get_backend_name() == "sqlite" else None
        self._path = f"{database}.writers" if database and database != ":memory:" else None
        self._file: IO[bytes] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        if self._file is None:
            self._file = open(self._path, "ab")  # noqa: SIM115 (kept open for the process)
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)
