"""EMR-shaped exports of the public data: the headers, separators, encodings, decimal marks
and units hospitals' systems write, built from the same patients as the packaged files."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

Cell = Callable[[list[str]], str]


def export(
    source: Path,
    target: Path,
    columns: Sequence[tuple[str, Cell]],
    *,
    delimiter: str = ";",
    encoding: str = "latin-1",
    decimal_comma: bool = False,
) -> Path:
    """Write `target` with one column per (header, cell-from-source-row) pair."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    with target.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow([header for header, _ in columns])
        for row in rows:
            cells = [cell(row) for _, cell in columns]
            if decimal_comma:
                cells = [c.replace(".", ",") if _decimal(c) else c for c in cells]
            writer.writerow(cells)
    return target


def _decimal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "." in text


def column(index: int) -> Cell:
    return lambda row: row[index]


def scaled(
    index: int,
    divide_by: float,
    digits: int = 1,
    zero_is_missing: bool = True,
    text_is_missing: bool = False,
) -> Cell:
    """A value re-expressed in another unit (e.g. mg/dL / 18.0156 = mmol/L), rounded as an EMR
    would print it; a zero (the public data's "missing") left empty, and with
    `text_is_missing` a cell that is no number ("?")."""

    def cell(row: list[str]) -> str:
        try:
            value = float(row[index])
        except ValueError:
            if text_is_missing:
                return ""
            raise
        if zero_is_missing and value == 0:
            return ""
        return f"{value / divide_by:.{digits}f}"

    return cell


def pima_mmol(source: Path, target: Path) -> Path:
    """The Pima data as a European lab system exports it: semicolons, Latin-1, decimal commas,
    glucose in mmol/L, units in brackets, French and English headers, a patient name column."""
    return export(
        source,
        target,
        [
            ("Nb grossesses", column(0)),
            ("Plasma Glucose (mmol/L)", scaled(1, 18.0156)),
            ("Blood Pressure", column(2)),
            ("Skin Thickness [mm]", column(3)),
            ("Insulin", column(4)),
            ("BMI (kg/m²)", column(5)),
            ("Diabetes Pedigree Function", column(6)),
            ("Âge (années)", column(7)),
            ("Outcome", column(8)),
            ("Patient Name", lambda row: "Doe, Jane"),
        ],
        decimal_comma=True,
    )
