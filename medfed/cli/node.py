"""`medfed node`: the hospital agent (enrollment and status; training arrives with the node issue)."""

from __future__ import annotations

from typing import Annotated

import typer

from medfed.cli.context import console, settings_from
from medfed.node import enroll as node_enroll

app = typer.Typer(
    help="Run the hospital node: the only MedFed software that touches patient rows.",
    no_args_is_help=True,
)


@app.command()
def enroll(
    ctx: typer.Context,
    server: Annotated[str, typer.Option(help="The MedFed server, e.g. https://medfed.example.org")],
    token: Annotated[str, typer.Option(help="One-time enrollment token from the administrator.")],
    name: Annotated[
        str | None, typer.Option(help="A name for this node; default: host name.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing enrollment.")] = False,
) -> None:
    """Exchange a one-time token for this node's credential (stored 0600 in the node home)."""
    settings = settings_from(ctx)
    credential = node_enroll.enroll(settings.node_home, server, token, node_name=name, force=force)
    console.print(
        f"Enrolled as node {credential.node_id} of [bold]{credential.hospital_name}[/bold]; "
        f"credential saved under {settings.node_home}."
    )


@app.command()
def status(ctx: typer.Context) -> None:
    """Show this node's enrollment and whether the server accepts its credential."""
    settings = settings_from(ctx)
    result = node_enroll.status(settings.node_home)
    if not result.enrolled or result.credential is None:
        console.print("Not enrolled. Run `medfed node enroll --server URL --token TOKEN`.")
        raise typer.Exit(1)
    credential = result.credential
    console.print(
        f"Node {credential.node_id} of {credential.hospital_name} at {credential.server_url}"
    )
    if result.server_error:
        console.print(f"[red]Server check failed:[/red] {result.server_error}")
        raise typer.Exit(1)
    console.print("[green]Server accepts this node's credential.[/green]")
