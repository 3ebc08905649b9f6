"""`medfed datasets`: check or fetch the public datasets behind the baseline models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from medfed.cli.context import console, settings_from
from medfed.core.catalog import DiseaseSpec, load_catalog
from medfed.core.errors import DatasetProblem
from medfed.core.files import write_private_file
from medfed.ml.datasets import load_dataset
from medfed.ml.fetch import fetch_datasets
from medfed.simulation import cohort

app = typer.Typer(help="Check or fetch the public datasets.", no_args_is_help=True)


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check every file's SHA-256 and show what cleaning did to each dataset."""
    settings = settings_from(ctx)
    table = Table("disease", "rows", "outcome rates", "set missing (implausible)", "status")
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
            _rates(spec, data.labels),
            str(implausible),
            "[green]ok[/green]",
        )
    console.print(f"Datasets in {settings.datasets_dir}")
    console.print(table)
    if failed:
        raise typer.Exit(1)


def _rates(spec: DiseaseSpec, labels: np.ndarray) -> str:
    if not spec.categorical:
        return f"positive {labels.mean():.2f}"
    shares = np.bincount(labels.astype(int), minlength=spec.outputs) / max(len(labels), 1)
    return " / ".join(
        f"{label} {share:.2f}" for label, share in zip(spec.class_labels, shares, strict=True)
    )


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
        colour = (
            "red"
            if outcome.status.startswith("failed")
            else "yellow"
            if outcome.status.startswith("skipped")
            else "green"
        )
        console.print(f"[{colour}]{outcome.status:<10}[/{colour}] {outcome.path}")
    if any(o.status.startswith("failed") for o in outcomes):
        raise typer.Exit(1)


@app.command()
def synthesize(
    out: Annotated[Path, typer.Argument(help="Folder to write the cohort's CSV files into.")],
    diagnoses: Annotated[
        bool, typer.Option(help="Also write each site's diagnoses in the registry's import shape.")
    ] = False,
    seed: Annotated[
        int, typer.Option(help="Generator seed; the shipped files use the default.")
    ] = (cohort.SEED),
) -> None:
    """Write the synthetic comorbidity cohort (the shipped files come from the default seed)."""
    admissions = cohort.generate(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for site in cohort.SITES:
        mine = [a for a in admissions if a.site == site.name]
        tables = {f"{site.name}.csv": cohort.feature_table(mine)}
        if diagnoses:
            tables[f"{site.name}-diagnoses.csv"] = cohort.diagnosis_table(mine)
        for name, lines in tables.items():
            write_private_file(out / name, "".join(",".join(line) + "\n" for line in lines))
            written.append(f"{name} ({len(lines) - 1} rows)")
    console.print(f"Wrote to {out}: " + ", ".join(written))
