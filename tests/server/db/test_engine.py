"""The engine's settings: how many requests may hold a database session at once, and how
SQLite's writers take turns."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from medfed.server.db.engine import (
    POOL_OVERFLOW,
    POOL_SIZE,
    make_engine,
    make_session_factory,
    request_sessions,
)
from tests.utils.locks import flock_is_held


def test_sqlite_lets_one_request_hold_a_session(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'medfed.db'}")
    try:
        assert request_sessions(engine) == 1
    finally:
        engine.dispose()


def test_postgresql_requests_leave_connections_for_work_outside_requests() -> None:
    # Building an engine opens no connection, so this needs no running server.
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        sessions = request_sessions(engine)
        assert 1 < sessions < POOL_SIZE + POOL_OVERFLOW
        assert engine.pool.size() == POOL_SIZE
    finally:
        engine.dispose()


# Write turns on SQLite: the flock beside the database is how other server processes see them.
def _turn_is_free(database: Path) -> bool:
    return not flock_is_held(f"{database}.writers")


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    database = tmp_path / "medfed.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (v INTEGER)"))
    try:
        yield database, engine
    finally:
        engine.dispose()


@pytest.mark.parametrize("ending", ["commit", "rollback", "close"])
def test_a_write_transaction_holds_the_turn_until_it_ends(
    sqlite_file: tuple[Path, Engine], ending: str
) -> None:
    database, engine = sqlite_file
    factory = make_session_factory(engine)
    session = factory()
    assert _turn_is_free(database)
    session.execute(text("INSERT INTO t VALUES (1)"))
    assert not _turn_is_free(database)
    getattr(session, ending)()
    session.close()
    assert _turn_is_free(database)
    with factory() as reading:
        rows = reading.scalar(text("SELECT count(*) FROM t"))
    assert rows == (1 if ending == "commit" else 0)


def test_a_second_writer_waits_for_the_turn_and_then_writes(
    sqlite_file: tuple[Path, Engine],
) -> None:
    _, engine = sqlite_file
    factory = make_session_factory(engine)
    order: list[str] = []
    holding = threading.Event()

    def second() -> None:
        holding.wait(10)
        with factory() as session, session.begin():
            session.execute(text("INSERT INTO t VALUES (2)"))  # BEGIN comes with it
            order.append("second wrote")

    thread = threading.Thread(target=second)
    thread.start()
    with factory() as session, session.begin():
        session.execute(text("INSERT INTO t VALUES (1)"))
        holding.set()
        thread.join(0.3)  # it cannot begin while this transaction holds the turn
        assert thread.is_alive()
        order.append("first committing")
    thread.join(10)
    assert order == ["first committing", "second wrote"]
    with factory() as session:
        assert session.scalars(text("SELECT v FROM t ORDER BY v")).all() == [1, 2]


def test_a_failed_statement_still_gives_the_turn_back(sqlite_file: tuple[Path, Engine]) -> None:
    database, engine = sqlite_file
    factory = make_session_factory(engine)
    with pytest.raises(OperationalError), factory() as session, session.begin():
        session.execute(text("INSERT INTO missing VALUES (1)"))
    assert _turn_is_free(database)


def test_a_connection_thrown_away_mid_transaction_gives_the_turn_back(
    sqlite_file: tuple[Path, Engine],
) -> None:
    database, engine = sqlite_file
    factory = make_session_factory(engine)
    session = factory()
    session.execute(text("INSERT INTO t VALUES (1)"))
    assert not _turn_is_free(database)
    session.connection().invalidate()
    assert _turn_is_free(database)
    session.rollback()
    session.close()
    with factory() as again, again.begin():  # and the next writer gets it
        again.execute(text("INSERT INTO t VALUES (2)"))
    with factory() as reading:
        assert reading.scalars(text("SELECT v FROM t")).all() == [2]
