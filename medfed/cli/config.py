"""`medfed config`: the effective settings and their reference table."""

from __future__ import annotations

import typer

from medfed.cli.context import console, settings_from
from medfed.core.config import settings_reference_markdown

app = typer.Typer(help="Show settings.", no_args_is_help=True)


@app.command()
def show(ctx: typer.Context) -> None:
    """The effective settings (secrets masked)."""
    settings = settings_from(ctx)
    for name, value in settings.model_dump().items():
        shown = "***" if value is not None and name in {"secret_key", "admin_password"} else value
        console.print(f"MEDFED_{name.upper()} = {shown}")


@app.command()
def docs() -> None:
    """Print the settings reference as a Markdown table (it is the README's table)."""
    print(settings_reference_markdown())
