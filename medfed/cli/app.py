"""The `medfed` command: wires one module per command group and maps errors to exit codes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from medfed import __version__
from medfed.cli import (
    admin,
    buffered,
    campaigns,
    config,
    datasets,
    demo,
    models,
    node,
    server,
    simulate,
)
from medfed.cli.context import err_console
from medfed.core.errors import ConfigurationError, MedFedError

app = typer.Typer(
    help="MedFed: federated disease models for hospital networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(server.app, name="server")
app.add_typer(admin.app, name="admin")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(buffered.app, name="buffered")
app.add_typer(node.app, name="node")
app.add_typer(config.app, name="config")
app.add_typer(demo.app, name="demo")
app.add_typer(models.app, name="models")
app.add_typer(datasets.app, name="datasets")
app.add_typer(simulate.app, name="simulate")


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
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=True)
    except ConfigurationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc.message}")
        raise SystemExit(2) from None
    except MedFedError as exc:
        where = f" ({exc.field})" if exc.field else ""
        err_console.print(f"[red]error{where}:[/red] {exc.message}")
        raise SystemExit(1) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else type(exc).__name__
        err_console.print(
            f"[red]database error:[/red] {reason}. Check MEDFED_DATABASE_URL and that the "
            "database is running."
        )
        raise SystemExit(1) from None
