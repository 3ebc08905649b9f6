"""`medfed buffered`: switch buffered (out-of-round) contributions on or off per disease."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medfed.cli.context import cli_actor, console, database_session, settings_from
from medfed.core.errors import InvalidInput
from medfed.fl.buffered import BufferSettings
from medfed.server.services import buffered

app = typer.Typer(
    help="Buffered contributions: hospitals' out-of-round updates advance the training line.",
    no_args_is_help=True,
)


@app.command("enable")
def enable(
    ctx: typer.Context,
    disease: Annotated[str, typer.Argument(help="Disease id, e.g. heart.")],
    size: Annotated[int, typer.Option(help="Contributions that make one checkpoint.")] = 3,
    max_staleness: Annotated[
        int, typer.Option(help="Checkpoints behind the training line's head, at most.")
    ] = 5,
    plain_mode_acknowledged: Annotated[
        bool,
        typer.Option(
            "--plain-mode-acknowledged",
            help="Required: buffered updates are not securely aggregated; the server sees each "
            "one (protected by DP-SGD at its node).",
        ),
    ] = False,
) -> None:
    """Switch buffered contributions on (or change their settings) for a disease."""
    if not plain_mode_acknowledged:
        raise InvalidInput(
            "Buffered updates are not securely aggregated: the server sees each one. Add "
            "--plain-mode-acknowledged to accept.",
            field="plain_mode_acknowledged",
        )
    settings = BufferSettings(size=size, max_staleness=max_staleness)
    with database_session(settings_from(ctx)) as session:
        buffered.enable(session, disease, settings, actor=cli_actor())
    console.print(
        f"Buffered contributions are on for {disease}: every {size} make a checkpoint on the "
        f"training line (at most {max_staleness} checkpoints stale)."
    )


@app.command("disable")
def disable(ctx: typer.Context, disease: Annotated[str, typer.Argument()]) -> None:
    """Switch them off; contributions still waiting are discarded."""
    with database_session(settings_from(ctx)) as session:
        discarded = buffered.disable(session, disease, actor=cli_actor())
    console.print(f"Buffered contributions are off for {disease}; {discarded} waiting discarded.")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Diseases whose buffered contributions are on, and how many wait."""
    with database_session(settings_from(ctx)) as session:
        table = Table("disease", "size", "max staleness", "waiting", "switched on by")
        for state in buffered.states(session):
            table.add_row(
                state.disease,
                str(state.settings.size),
                str(state.settings.max_staleness),
                str(state.pending),
                state.enabled_by,
            )
    console.print(table)
