"""What every command needs: the settings (from --config and the environment) and a database."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from medfed.core.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console()
err_console = Console(stderr=True)


def settings_from(ctx: typer.Context) -> Settings:
    config_file: Path | None = (ctx.find_root().obj or {}).get("config_file")
    return load_settings(config_file)


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A migrated database and one transaction, committed if the command succeeds."""
    from medfed.server.db.engine import make_engine, make_session_factory
    from medfed.server.db.migrate import upgrade_to_head

    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade_to_head(engine)
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
