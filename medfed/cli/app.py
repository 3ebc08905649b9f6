"""The `medfed` command: wires one module per command group and maps errors to exit codes."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from medfed import __version__
from medfed.cli.context import err_console
from medfed.core.config import LOG_FORMAT
from medfed.core.errors import ConfigurationError, MedFedError

# Command groups and their modules, imported only when a command of theirs runs: `medfed admin`
# does not load PyTorch, and a node's commands do not load the server's web app.
GROUPS = {
    "server": "medfed.cli.server",
    "admin": "medfed.cli.admin",
    "campaigns": "medfed.cli.campaigns",
    "analytics": "medfed.cli.analytics",
    "buffered": "medfed.cli.buffered",
    "node": "medfed.cli.node",
    "config": "medfed.cli.config",
    "demo": "medfed.cli.demo",
    "models": "medfed.cli.models",
    "datasets": "medfed.cli.datasets",
    "simulate": "medfed.cli.simulate",
}


# Contexts are typed Any: typer keeps the click it ships private.
class _LazyGroups(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in GROUPS:
            return super().get_command(ctx, cmd_name)
        holder = typer.Typer()
        holder.add_typer(importlib.import_module(GROUPS[cmd_name]).app, name=cmd_name)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_LazyGroups,
    help="MedFed: federated disease models for hospital networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"medfed {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="YAML file of settings (environment wins).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """MedFed: federated disease models for hospital networks."""
    ctx.obj = {"config_file": config_file}


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    try:
        app(standalone_mode=True)
    except ConfigurationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc.message}")
        raise SystemExit(2) from None
    except MedFedError as exc:
        where = f" ({exc.field})" if exc.field else ""
        err_console.print(f"[red]error{where}:[/red] {exc.message}")
        raise SystemExit(1) from None
    except Exception as exc:
        if not _database_error(exc):
            raise
        reason = str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else type(exc).__name__
        err_console.print(
            f"[red]database error:[/red] {reason}. Check MEDFED_DATABASE_URL and that the "
            "database is running."
        )
        raise SystemExit(1) from None


def _database_error(exc: BaseException) -> bool:
    """An SQLAlchemy error (SQLAlchemy is loaded only by the commands that use a database)."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)
