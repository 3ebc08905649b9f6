"""The event loop's own read connection: autocommit reads of the latest committed state, and a
connection the database dropped replaced without the caller seeing it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from medfed.server.db.engine import make_engine, make_line_engine
from medfed.server.db.read_line import ReadLine


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    writer, line = make_engine(database_url), make_line_engine(database_url)
    with writer.begin() as connection:
        connection.execute(text("CREATE TABLE line_probe (v INTEGER)"))
        connection.execute(text("INSERT INTO line_probe VALUES (1)"))
    try:
        yield writer, line
    finally:
        line.dispose()
        writer.dispose()


def _values(connection: Connection) -> list[int]:
    return list(connection.execute(text("SELECT v FROM line_probe ORDER BY v")).scalars())


def test_each_read_sees_what_was_committed_since(engines: tuple[Engine, Engine]) -> None:
    writer, engine = engines
    line = ReadLine(engine)
    try:
        assert line.run(_values) == [1]
        with writer.begin() as connection:
            connection.execute(text("INSERT INTO line_probe VALUES (2)"))
        assert line.run(_values) == [1, 2]  # no snapshot held between units
    finally:
        line.close()


def test_the_line_cannot_write(engines: tuple[Engine, Engine]) -> None:
    _, engine = engines
    line = ReadLine(engine)
    try:
        with pytest.raises(DBAPIError, match=r"readonly|read-only"):
            line.run(lambda c: c.execute(text("INSERT INTO line_probe VALUES (3)")))
        assert line.run(_values) == [1]  # and the connection still reads
    finally:
        line.close()


def test_a_dropped_connection_is_replaced_and_the_read_run_again(
    engines: tuple[Engine, Engine], backend: str
) -> None:
    writer, engine = engines
    line = ReadLine(engine)
    try:
        assert line.run(_values) == [1]
        if backend == "postgresql":  # the server ends the line's session, as a restart would
            pid = line.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar_one())
            with writer.begin() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:  # the file handle under the connection is gone
            line.run(lambda c: c.connection.dbapi_connection.close())  # type: ignore[union-attr]
        assert line.run(_values) == [1]
    finally:
        line.close()


def test_with_threads_of_its_own_a_unit_runs_off_the_calling_thread(
    engines: tuple[Engine, Engine],
) -> None:
    writer, engine = engines
    line = ReadLine(engine, threads=2)
    assert line.pool is not None
    try:
        caller = threading.get_ident()
        ran_on = line.pool.submit(line.run, lambda c: threading.get_ident()).result()
        assert ran_on != caller
        with writer.begin() as connection:
            connection.execute(text("INSERT INTO line_probe VALUES (4)"))
        assert line.pool.submit(line.run, _values).result() == [1, 4]
    finally:
        line.close()
    with pytest.raises(RuntimeError):  # closing stopped its threads (and their connections)
        line.pool.submit(line.run, _values)
