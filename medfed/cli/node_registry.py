"""`medfed node registry …`: the hospital's own patients, admissions and ICD diagnoses, kept at the
node (sealed with the node's registry key) and never sent to the server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from medfed.cli.context import console, settings_from
from medfed.core.config import Settings
from medfed.core.errors import InvalidInput
from medfed.core.faults import crash_point
from medfed.node.registry.codes import InvalidCode, lookup
from medfed.node.registry.store import Registry

app = typer.Typer(
    help="The hospital's patient registry: patients under a secure ID, admissions, ICD "
    "diagnoses. Kept at this node only; back up registry.key apart from registry.db.",
    no_args_is_help=True,
)


def _registry(settings: Settings) -> Registry:
    def after_row(index: int) -> None:
        if index >= 1:  # a crash test's power cut, after some rows of an import are written
            crash_point(settings, "registry:mid_import")

    return Registry(settings.node_home, after_row=after_row if settings.fault_point else None)


@app.command()
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The patient's name (stays at this node).")],
    local_id: Annotated[
        str, typer.Option(help="The hospital's own identifier, e.g. the medical record number.")
    ],
    birth_year: Annotated[int | None, typer.Option(help="Year of birth.")] = None,
    sex: Annotated[str | None, typer.Option(help="female, male, other or unknown.")] = None,
) -> None:
    """Register a patient; prints the secure ID the registry knows them by."""
    patient = _registry(settings_from(ctx)).register(name, local_id, birth_year, sex)
    console.print(f"Registered {patient.name} as {patient.secure_id}")


@app.command("list")
def list_patients(
    ctx: typer.Context,
    search: Annotated[
        str | None, typer.Argument(help="The start of a secure ID, or part of a name.")
    ] = None,
) -> None:
    """Registered patients, newest first."""
    patients = _registry(settings_from(ctx)).patients(search)
    table = Table("name", "local ID", "born", "sex", "admissions", "diagnoses")
    table.columns.insert(0, Column("secure ID", no_wrap=True, min_width=18))
    for p in patients:
        table.add_row(
            p.secure_id,
            p.name,
            p.local_id,
            str(p.birth_year or ""),
            p.sex or "",
            str(p.admissions),
            str(p.diagnoses),
        )
    console.print(table if patients else "No patient matches." if search else "No patients yet.")


@app.command()
def show(
    ctx: typer.Context, secure_id: Annotated[str, typer.Argument(help="The patient's secure ID.")]
) -> None:
    """One patient with every admission and diagnosis."""
    patient, admissions = _registry(settings_from(ctx)).patient(secure_id)
    console.print(
        f"{patient.secure_id}  {patient.name}  (local ID {patient.local_id}"
        + (f", born {patient.birth_year}" if patient.birth_year else "")
        + (f", {patient.sex}" if patient.sex else "")
        + ")"
    )
    if not admissions:
        console.print("No admissions yet.")
    for admission in admissions:
        console.print(f"Admission {admission.hadm_id} ({admission.admitted_on or 'no date'})")
        for d in admission.diagnoses:
            mapped = f" → ICD-10 {d.code.icd10}" if d.code.version == 9 and d.code.icd10 else ""
            console.print(
                f"  {d.seq_num:>3}  ICD-{d.code.version} {d.code.code}  {d.code.description}"
                f"{mapped}"
            )


@app.command()
def admit(
    ctx: typer.Context,
    secure_id: Annotated[str, typer.Argument(help="The patient's secure ID.")],
    hadm_id: Annotated[str, typer.Option(help="The hospital's admission number.")],
    admitted_on: Annotated[str | None, typer.Option(help="Date, e.g. 2026-03-14.")] = None,
) -> None:
    """Record an admission for a registered patient."""
    admission = _registry(settings_from(ctx)).admit(secure_id, hadm_id, admitted_on)
    console.print(f"Recorded admission {admission.hadm_id} for {secure_id.upper()}")


@app.command()
def diagnose(
    ctx: typer.Context,
    hadm_id: Annotated[str, typer.Argument(help="The admission number.")],
    icd_code: Annotated[str, typer.Argument(help="The code, e.g. I21.4 (dot optional).")],
    seq_num: Annotated[int, typer.Option(help="Its position within the admission (1: first).")],
    icd_version: Annotated[int, typer.Option(help="9 or 10.")] = 10,
) -> None:
    """Add one diagnosis to an admission (checked against the ICD code set)."""
    registry = _registry(settings_from(ctx))
    diagnosis = registry.diagnose(hadm_id, icd_code, icd_version, seq_num)
    console.print(
        f"Admission {hadm_id}, #{diagnosis.seq_num}: ICD-{diagnosis.code.version} "
        f"{diagnosis.code.code} {diagnosis.code.description}"
    )


@app.command("import")
def import_diagnoses(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with hadm_id, icd_code, icd_version, seq_num.")],
) -> None:
    """Import a file of diagnoses: all of it, or, if any row is wrong, none of it."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}", field="file") from None
    report = _registry(settings_from(ctx)).import_diagnoses(text)
    admissions = "1 admission" if report.admissions == 1 else f"{report.admissions} admissions"
    console.print(f"Imported {report.diagnoses} diagnoses for {admissions}.")


@app.command()
def code(
    icd_code: Annotated[str, typer.Argument(help="The code, e.g. I21.4 or 428.0.")],
    icd_version: Annotated[int, typer.Option(help="9 or 10.")] = 10,
) -> None:
    """Look a code up: its description, and for ICD-9 the ICD-10-CM code it maps to."""
    try:
        found = lookup(icd_code, icd_version)
    except InvalidCode as exc:
        raise InvalidInput(str(exc), field="icd_code") from None
    console.print(f"ICD-{found.version} {found.code}: {found.description}")
    if not found.billable:
        console.print("A category: code a more specific child for a diagnosis.")
    if found.version == 9:
        console.print(
            f"ICD-10-CM {found.icd10}: {found.icd10_description}"
            if found.icd10
            else "No ICD-10-CM equivalent in the CMS mappings."
        )
