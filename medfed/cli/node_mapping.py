"""`medfed node map`: say which column of an export is which feature and in which unit, once
for every later file of the same shape."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medfed.cli.context import console, settings_from
from medfed.core import columns
from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.units import Conversion
from medfed.node import mappings
from medfed.node.intake import IntakeRefused, check_file, read_header

Pairs = Annotated[
    list[str] | None,
    typer.Option("--column", help="'HEADER=feature' (or 'HEADER=target'): this column is that."),
]
Units = Annotated[
    list[str] | None,
    typer.Option("--unit", help="'HEADER=unit': this column's values are in that unit."),
]
Drop = Annotated[
    list[str] | None,
    typer.Option("--drop-column", help="A column MedFed must not read (repeatable)."),
]


def map_columns(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An export of the shape to map (CSV).")],
    disease: Annotated[str, typer.Option(help="Which disease model the file is for.")],
    column: Pairs = None,
    unit: Units = None,
    drop_column: Drop = None,
    accept: Annotated[
        bool, typer.Option("--accept", help="Save the mapping shown (proposals included).")
    ] = False,
) -> None:
    """Show how each column is read (by name, a unit in its header, or a proposal for a header
    MedFed does not know), correct it, and save it for every later file of this shape."""
    spec = get_disease(disease)
    home = settings_from(ctx).node_home
    try:
        header = read_header(file)
        book = mappings.load(home)
        saved = book.find(spec.id, header)
        start = saved.choices if saved is not None else columns.propose(spec, header)
        choices = columns.override(
            spec,
            start,
            columns=_pairs(column, "--column"),
            unit_of=_pairs(unit, "--unit"),
            drop=drop_column or (),
        )
        if accept:
            choices = columns.confirm(choices)
        conversions = columns.check(spec, choices)
    except (IntakeRefused, columns.MappingProblem) as problem:
        console.print(f"[red]Refused:[/red] {problem}")
        raise typer.Exit(1) from None
    _show(spec, choices, conversions, saved is not None)
    if not accept:
        console.print(
            "Nothing saved. When each row above is right, save it with --accept "
            "(correct a row with --column 'HEADER=feature', --unit 'HEADER=unit' or --drop-column HEADER)."
        )
        return
    lacking = columns.lacking(spec, choices)
    if lacking:
        console.print(f"[red]Not saved:[/red] {lacking}")
        raise typer.Exit(1)
    mappings.save(home, spec.id, header, choices)
    console.print(
        f"Saved: every {spec.id} file with these {len(header)} columns is read this way "
        f"({mappings.path_of(home).resolve()})."
    )
    try:
        report = check_file(spec, file, mappings=mappings.load(home))
    except IntakeRefused as refused:
        console.print(f"[red]The file is still refused:[/red] {refused}")
        raise typer.Exit(1) from None
    if report.ok:
        console.print(f"[green]{report.valid_rows} usable rows of {report.rows}.[/green]")
        return
    console.print("[yellow]Mapped; the file still has problems (`medfed node check`):[/yellow]")
    for reason in report.blocking:
        console.print(f"  - {reason}")
    raise typer.Exit(1)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for value in values or ():
        header, sep, what = value.rpartition("=")
        if not sep or not header.strip():
            raise columns.MappingProblem(f"{option} {value!r}: write it as 'HEADER=value'")
        pairs[header.strip()] = what.strip()
    return pairs


def _show(
    spec: DiseaseSpec,
    choices: list[columns.Choice],
    conversions: list[Conversion | None],
    from_saved: bool,
) -> None:
    table = Table("column", "read as", "unit", "conversion", "how")
    for choice, conversion in zip(choices, conversions, strict=True):
        if choice.role == columns.FEATURE and choice.feature:
            what = spec.feature(choice.feature).label
            if not choice.confirmed:
                what += " [yellow](proposed)[/yellow]"
        else:
            what = {columns.TARGET: "outcome", columns.DROP: "left out"}.get(choice.role, "-")
        table.add_row(
            choice.header,
            what,
            choice.unit or "",
            conversion.describe() if conversion is not None and choice.unit else "",
            choice.how,
        )
    console.print(table)
    if from_saved:
        console.print("(This is the mapping saved for files of this shape.)")
