"""A hospital's saved column mappings: applied to every later export of the same shape and
disease, never to another disease's, with the units converted as the rows stream by."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medfed.core import columns
from medfed.core.catalog import get_disease
from medfed.node import mappings
from medfed.node.intake import IntakeRefused, check_file, read_header, read_rows
from tests.utils import emr

DIABETES = get_disease("diabetes")


@pytest.fixture
def pima(datasets_dir: Path) -> Path:
    return datasets_dir / "diabetes" / "pima-indians-diabetes.csv"


def _rows(path: Path, book: mappings.MappingBook | None = None) -> list[dict[str, object]]:
    return [row for row, _ in read_rows(DIABETES, path, mappings=book)]


def test_a_lab_export_in_mmol_per_litre_reads_as_the_packaged_file_once_mapped(
    pima: Path, tmp_path: Path
) -> None:
    export = emr.pima_mmol(pima, tmp_path / "export.csv")
    with pytest.raises(IntakeRefused, match="Proposed: 'Âge \\(années\\)' as Age"):
        check_file(DIABETES, export)
    header = read_header(export)
    assert header[1] == "Plasma Glucose (mmol/L)"  # Latin-1 and semicolons read as such
    choices = columns.confirm(
        columns.override(DIABETES, columns.propose(DIABETES, header), drop=["Patient Name"])
    )
    mappings.save(tmp_path / "node", "diabetes", header, choices)
    book = mappings.load(tmp_path / "node")
    report = check_file(DIABETES, export, mappings=book)
    assert report.ok, report.blocking
    assert report.mapping_saved and report.dropped_columns == ["Patient Name"]
    assert report.conversions["glucose"] == "mmol/L → mg/dL (times 18.0156)"
    converted, original = _rows(export, book), _rows(pima)
    assert len(converted) == len(original) == 768
    glucose = np.array([r["glucose"] or np.nan for r in converted], dtype=float)
    expected = np.array([r["glucose"] or np.nan for r in original], dtype=float)
    # printed to one decimal in mmol/L: within half a tenth of 18.0156 mg/dL
    assert np.nanmax(np.abs(glucose - expected)) <= 0.05 * 18.0156 + 1e-9
    assert np.array_equal(np.isnan(glucose), np.isnan(expected))
    assert [r["bmi"] for r in converted] == [r["bmi"] for r in original]  # "33,6" read as 33.6


def test_glucose_in_mmol_per_litre_under_a_bare_header_is_flagged_not_trained_on(
    pima: Path, tmp_path: Path
) -> None:
    export = emr.export(
        pima,
        tmp_path / "bare.csv",
        [("Glucose", emr.scaled(1, 18.0156)), ("BMI", emr.column(5)), ("Age", emr.column(7)),
         ("Outcome", emr.column(8))],
        delimiter=",", encoding="utf-8",
    )  # fmt: skip
    report = check_file(DIABETES, export)
    assert not report.ok
    assert report.blocking[0].startswith(
        "column 'Glucose': its values (median 6.5) look like Plasma glucose in mmol/L, not in mg/dL"
    )
    header = read_header(export)
    choices = columns.override(
        DIABETES, columns.propose(DIABETES, header), unit_of={"Glucose": "mmol/L"}
    )
    mappings.save(tmp_path / "node", "diabetes", header, choices)
    assert check_file(DIABETES, export, mappings=mappings.load(tmp_path / "node")).ok


def test_a_mapping_saved_for_one_disease_is_not_applied_to_another(
    pima: Path, tmp_path: Path
) -> None:
    export = emr.pima_mmol(pima, tmp_path / "export.csv")
    header = read_header(export)
    mappings.save(
        tmp_path / "node", "diabetes", header, columns.confirm(columns.propose(DIABETES, header))
    )
    book = mappings.load(tmp_path / "node")
    assert book.find("heart", header) is None
    with pytest.raises(IntakeRefused, match="saved for diabetes: is the file for that disease"):
        check_file(get_disease("heart"), export, mappings=book)
    other = tmp_path / "other.csv"  # one more column: another shape, not this mapping
    other.write_bytes(export.read_bytes().replace(b"Patient Name", b"Patient Name;Ward", 1))
    assert book.find("diabetes", read_header(other)) is None


def test_a_damaged_mapping_file_is_refused_not_ignored(tmp_path: Path) -> None:
    home = tmp_path / "node"
    home.mkdir()
    mappings.path_of(home).write_text("{not json", encoding="utf-8")
    with pytest.raises(IntakeRefused, match="is not a readable mapping file"):
        mappings.load(home)


def test_saving_again_replaces_only_that_diseases_mapping_for_that_shape(tmp_path: Path) -> None:
    home = tmp_path / "node"
    header = ["Gluc", "BMI", "Age", "Outcome"]
    first = columns.confirm(columns.propose(DIABETES, header))
    mappings.save(home, "diabetes", header, first)
    mappings.save(home, "diabetes", ["glucose", "bmi", "age", "outcome"], first)
    corrected = columns.override(DIABETES, first, unit_of={"Gluc": "mmol/L"})
    mappings.save(home, "diabetes", header, corrected)
    book = mappings.load(home)
    assert len(book.mappings) == 2
    saved = book.find("diabetes", header)
    assert saved is not None and saved.choices[0].unit == "mmol/L"
    assert not list(home.glob("*.partial"))


def test_a_spreadsheets_unicode_text_export_tab_separated_utf16_reads_without_a_mapping(
    pima: Path, tmp_path: Path
) -> None:
    export = emr.export(
        pima,
        tmp_path / "unicode.txt",
        [("Glucose mg/dL", emr.scaled(1, 1.0, digits=0)), ("BMI kg/m2", emr.column(5)),
         ("Age, years", emr.column(7)), ("Diabetes", emr.column(8))],
        delimiter="\t", encoding="utf-16", decimal_comma=True,
    )  # fmt: skip
    report = check_file(DIABETES, export)
    assert report.ok, report.blocking
    assert (report.encoding, report.delimiter) == ("utf-16", "\t")
    assert report.conversions["glucose"] == "mg/dL (no conversion)"
    assert report.matched == {"glucose": "Glucose mg/dL", "bmi": "BMI kg/m2", "age": "Age, years"}
    assert [r["bmi"] for r in _rows(export)] == [r["bmi"] for r in _rows(pima)]  # "33,6"


def test_pipes_creatinine_in_micromoles_and_a_note_that_is_no_unit(
    datasets_dir: Path, tmp_path: Path
) -> None:
    kidney = get_disease("kidney")
    source = datasets_dir / "kidney" / "kidney_disease.csv"
    header = read_header(source)
    creatinine = header.index("sc")
    columns = [
        ("Serum Creatinine umol/L", emr.scaled(i, 0.011312, digits=0, text_is_missing=True))
        if i == creatinine
        else (h, emr.column(i))
        for i, h in enumerate(header)
    ]
    export = emr.export(source, tmp_path / "pipes.csv", columns, delimiter="|", encoding="utf-8")
    report = check_file(kidney, export, skip_invalid_rows=True)
    assert report.delimiter == "|"
    assert report.conversions["serum_creatinine"].startswith("umol/L → mg/dL")
    converted = [
        r["serum_creatinine"] for r, _ in read_rows(kidney, export, skip_invalid_rows=True)
    ]
    original = [r["serum_creatinine"] for r, _ in read_rows(kidney, source, skip_invalid_rows=True)]
    assert len(converted) == len(original)
    pairs = [(a, b) for a, b in zip(converted, original, strict=True) if b is not None]
    assert pairs and all(
        abs(a - b) <= 0.5 * 0.011312 + 1e-9 for a, b in pairs
    )  # printed to 1 µmol/L
    glucose = columns_for(DIABETES, ["Glucose 2h", "Glucose (fasting)", "BMI", "Age", "Outcome"])
    assert glucose[0].feature == "glucose" and glucose[0].unit is None  # "2h" is no glucose unit
    assert not glucose[0].confirmed and glucose[1].feature is None  # one proposal per feature


def columns_for(spec: object, header: list[str]) -> list[columns.Choice]:
    return columns.propose(spec, header)  # type: ignore[arg-type]
