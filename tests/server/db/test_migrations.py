from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from medfed.core.config import Settings
from medfed.server.db import analytics_tables  # noqa: F401  (registers its tables)
from medfed.server.db.base import Base
from medfed.server.db.engine import make_engine
from medfed.server.db.migrate import migration_status, upgrade_to_head


def test_migrations_match_the_table_definitions(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent_and_current(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    upgrade_to_head(engine)
    assert migration_status(engine).is_current
    with engine.connect() as connection:
        assert connection.execute(text("SELECT last_seq FROM audit_head")).scalar_one() == 0
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    upgrade_to_head(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert "audit_events" in inspect(engine).get_table_names()
    engine.dispose()
