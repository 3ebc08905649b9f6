"""The engine's settings: how many requests may hold a database session at once."""

from __future__ import annotations

from pathlib import Path

from medfed.server.db.engine import POOL_OVERFLOW, POOL_SIZE, make_engine, request_sessions


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
