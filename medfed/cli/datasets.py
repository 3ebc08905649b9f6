"""`medfed datasets`: check or fetch the public datasets behind the baseline models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medfed.cli.context import console, settings_from
from medfed.core.catalog import load_catalog
from medfed.core.errors import DatasetProblem
from medfed.ml.datasets import load_dataset
from medfed.ml.fetch import fetch_datasets

app = typer.Typer(help="Check or fetch the public datasets.", no_args_is_help=True)


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check every file's SHA-256 and show what cleaning did to each dataset."""
    settings = settings_from(ctx)
    table = Table("disease", "rows", "positive rate", "set missing (implausible)", "status")
    failed = False
    for disease, spec in load_catalog().items():
        try:
            data = load_dataset(spec, settings.datasets_dir)
        except DatasetProblem as exc:
            table.add_row(disease, "", "", "", f"[red]{exc.message}[/red]")
            failed = True
            continue
        implausible = sum(data.report.invalid_by_feature.values())
        table.add_row(
            disease,
            str(len(data)),
            f"{data.labels.mean():.2f}",
            str(implausible),
            "[green]ok[/green]",
        )
    console.print(f"Datasets in {settings.datasets_dir}")
    console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def fetch(
    dest: Annotated[Path, typer.Option(help="Folder to download into.")],
    base_url: Annotated[
        str | None, typer.Option(help="Mirror holding the files under their relative paths.")
    ] = None,
) -> None:
    """Download the originals (needs a network connection) and verify their checksums."""
    outcomes = fetch_datasets(dest, base_url)
    for outcome in outcomes:
        colour = "red" if outcome.status.startswith("failed") else "green"
        console.print(f"[{colour}]{outcome.status:<10}[/{colour}] {outcome.path}")
    if any(o.status.startswith("failed") for o in outcomes):
        raise typer.Exit(1)
