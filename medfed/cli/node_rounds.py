"""`medfed node participate` and `medfed node rounds`: federated rounds at the hospital."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medfed.cli.context import console, settings_from
from medfed.node.credential import require_credential
from medfed.node.state import NodeState
from medfed.node.tls import client_for

app = typer.Typer(help="Federated rounds this node took part in.", no_args_is_help=True)


def participate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file of patients this node trains on.")],
    disease: Annotated[str, typer.Option(help="The disease whose rounds this node joins.")],
    drop_column: Annotated[
        list[str] | None, typer.Option("--drop-column", help="Leave this column out (repeatable).")
    ] = None,
    skip_invalid_rows: Annotated[
        bool, typer.Option(help="Leave out rows with problems instead of refusing the file.")
    ] = False,
    rounds: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many rounds end; default: never.")
    ] = None,
    poll: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds before trying again after a failed step (and between looks at a "
            "server without long polls).",
        ),
    ] = 2.0,
    wait: Annotated[
        float,
        typer.Option(
            min=1.0,
            max=55.0,
            help="Long poll: seconds the server may hold each look until a round changes.",
        ),
    ] = 25.0,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Fix the validation rows and training randomness, so an experiment repeats "
            "(leave unset in service).",
        ),
    ] = None,
) -> None:
    """Join the disease's rounds as the local policy allows: train, send the update, evaluate."""
    settings = settings_from(ctx)
    credential = require_credential(settings.node_home)
    from medfed.node.rounds import Participation, RoundAgent  # loads PyTorch and Opacus

    offer = Participation(
        disease=disease,
        path=file,
        drop_columns=frozenset(drop_column or ()),
        skip_invalid_rows=skip_invalid_rows,
        seed=seed,
    )
    with client_for(settings.node_home, credential) as client:
        agent = RoundAgent(
            settings.node_home, client, offer, say=lambda text: console.print(text, soft_wrap=True)
        )
        console.print(f"Watching {credential.server_url} for {disease} rounds (Ctrl-C stops).")
        agent.run(poll_seconds=poll, rounds=rounds, wait_seconds=wait)


@app.command("list")
def list_rounds(ctx: typer.Context) -> None:
    """Rounds this node has seen, and what it did in each."""
    entries = NodeState(settings_from(ctx).node_home).round_entries()
    table = Table("round", "disease", "status", "job", "note", "updated")
    for entry in entries:
        table.add_row(
            str(entry.round_id),
            entry.disease,
            entry.status,
            entry.job_id or "",
            entry.note or "",
            entry.updated_at,
        )
    console.print(table)


@app.command("approve")
def approve_round(
    ctx: typer.Context, round_id: Annotated[int, typer.Argument(help="The round to approve.")]
) -> None:
    """Approve a round (needed when the local policy says require_approval)."""
    from medfed.node.rounds import approve

    approve(settings_from(ctx).node_home, round_id)
    console.print(f"Round {round_id} approved; the running `participate` joins it next.")
