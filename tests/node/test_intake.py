from __future__ import annotations

from pathlib import Path

import pytest

from medfed.core.catalog import get_disease
from medfed.node import intake
from medfed.node.intake import IntakeRefused, check_file, read_rows

HEADER = "glucose,bmi,age,blood_pressure,outcome"


def good_rows(count: int = 220) -> list[str]:
    return [
        f"{100 + i % 80},{25 + i % 10}.5,{30 + i % 40},{70 + i % 15},{i % 3 == 0:d}"
        for i in range(count)
    ]


def write(
    tmp_path: Path, lines: list[str], name: str = "data.csv", encoding: str = "utf-8"
) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def check(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return check_file(get_disease("diabetes"), path, min_rows=200, **kwargs)  # type: ignore[arg-type]


def test_a_clean_file_passes_with_statistics(tmp_path: Path) -> None:
    report = check(write(tmp_path, [HEADER, *good_rows()]))
    assert report.ok, report.blocking
    assert report.valid_rows == 220 and report.positives == 74
    glucose = report.columns["glucose"].as_dict()
    assert glucose["min"] == 100 and glucose["max"] == 179 and glucose["missing"] == 0


@pytest.mark.parametrize(
    ("encoding", "delimiter", "bom"),
    [("utf-8", ",", False), ("utf-8", ";", True), ("latin-1", ";", False)],
)
def test_encodings_delimiters_and_bom(
    tmp_path: Path, encoding: str, delimiter: str, bom: bool
) -> None:
    lines = [("\ufeff" if bom else "") + "Glucose;BMI;Âge;BloodP;Outcome".replace(";", delimiter)]
    lines += [row.replace(",", delimiter) for row in good_rows()]
    report = check(write(tmp_path, lines, encoding=encoding))
    assert report.ok and report.delimiter == delimiter
    assert report.matched["age"] == "Âge" and report.encoding == (
        "latin-1" if encoding == "latin-1" else "utf-8-sig"
    )


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "is empty"),
        (b"glucose,bmi,age,outcome\n", "only a header"),
        (b"PK\x03\x04\x14\x00\x00\x00binary", "binary data"),
        ("glucose,bmi,age,outcome\n120,30,40,1\n".encode("utf-16-le"), "UTF-16 text without"),
        (b"glucose,bmi,age\n120,30,40\n", "No outcome column"),
        (b"bmi,age,outcome\n30,40,1\n", "Required columns are missing: Plasma glucose"),
    ],
)
def test_unreadable_files_are_refused_clearly(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IntakeRefused, match=phrase):
        check(path)


@pytest.mark.parametrize(
    ("bad_row", "where", "phrase"),
    [
        ("120,30", "row 5", "has 2 cells"),
        ("=cmd|' /C calc'!A0,30,40,70,1", "row 5, column 'glucose'", "spreadsheet formula"),
        ("120,NaN,40,70,1", "row 5, column 'bmi'", "not a finite number"),
        ("120,inf,40,70,1", "row 5, column 'bmi'", "not a finite number"),
        ("999,30,40,70,1", "row 5, column 'glucose'", "outside the accepted range"),
        ("120,thirty,40,70,1", "row 5, column 'bmi'", "not a number"),
        ("120,30,40,70,maybe", "row 5, column 'outcome'", "outcome must be one of"),
    ],
)
def test_bad_rows_are_located_by_row_and_column(
    tmp_path: Path, bad_row: str, where: str, phrase: str
) -> None:
    rows = good_rows()
    rows.insert(3, bad_row)
    report = check(write(tmp_path, [HEADER, *rows]))
    assert not report.ok
    assert (
        report.problems[0].describe().startswith(where) and phrase in report.problems[0].describe()
    )
    skipped = check(write(tmp_path, [HEADER, *rows]), skip_invalid_rows=True)
    assert skipped.ok and skipped.valid_rows == 220


def test_negative_numbers_are_not_formulas(tmp_path: Path) -> None:
    spec = get_disease("heart")
    lines = ["age,sex,cp,trestbps,thalach,exang,oldpeak,num"]
    lines += [f"{40 + i % 30},1,4,130,150,0,-{i % 3}.5,{i % 2}" for i in range(210)]
    report = check_file(spec, write(tmp_path, lines), min_rows=200)
    assert report.ok, report.blocking


def test_required_column_all_missing_single_class_and_too_few_rows(tmp_path: Path) -> None:
    empty_glucose = [f",{25 + i % 10},{30 + i % 40},70,{i % 2}" for i in range(220)]
    report = check(write(tmp_path, [HEADER, *empty_glucose]))
    assert any(
        "every value of the required Plasma glucose is missing" in r for r in report.blocking
    )
    one_class = [row[:-1] + "0" for row in good_rows()]
    assert any(
        "every row is negative" in r for r in check(write(tmp_path, [HEADER, *one_class])).blocking
    )
    assert any(
        "needs at least 200" in r for r in check(write(tmp_path, [HEADER, *good_rows(50)])).blocking
    )


def test_identifier_columns_are_refused_by_name_and_by_value_and_can_be_dropped(
    tmp_path: Path,
) -> None:
    rows = [f"Jane Doe{i % 3},{i:03d}-12-{i:04d},{row}" for i, row in enumerate(good_rows())]
    path = write(tmp_path, ["patient_name,notes," + HEADER, *rows])
    report = check(path)
    descriptions = [f.describe() for f in report.identifiers]
    assert "column 'patient_name': its name suggests a person's name" in descriptions
    assert "column 'notes': its values look like a social security number" in descriptions
    assert all("Jane" not in reason and "-12-" not in reason for reason in report.blocking), (
        "values are never echoed"
    )
    cleaned = check(path, drop_columns={"patient_name", "notes"})
    assert cleaned.ok and cleaned.dropped_columns == ["patient_name", "notes"]
    with pytest.raises(IntakeRefused, match="names no column"):
        check(path, drop_columns={"nonexistent"})


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("contact", "someone{}@hospital.org", "e-mail"),
        ("when", "2024-03-{:02d}", "date"),
        ("link", "https://x.org/p/{}", "web address"),
        ("host", "10.0.0.{}", "IP address"),
        ("tel", "+1 555 123 {:04d}", "telephone"),
        ("ref", "MRN{:06d}", "medical record"),
    ],
)
def test_identifier_values_in_innocent_columns(
    tmp_path: Path, column: str, value: str, kind: str
) -> None:
    rows = [f"{value.format(i % 28 + 1)},{row}" for i, row in enumerate(good_rows())]
    report = check(write(tmp_path, [f"{column}," + HEADER, *rows]))
    assert [f.column for f in report.identifiers] == [column]
    assert kind in report.identifiers[0].kind


def test_category_labels_are_not_mistaken_for_names(tmp_path: Path) -> None:
    lines = ["age,sex,chest pain,trestbps,thalach,exang,oldpeak,num"]
    lines += [f"{40 + i % 30},Male,Typical Angina,130,150,no,1.0,{i % 2}" for i in range(210)]
    report = check_file(get_disease("heart"), write(tmp_path, lines), min_rows=200)
    assert report.ok and not report.identifiers


def test_large_file_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write(HEADER + "\n")
        for i in range(200_000):
            handle.write(
                f"{100 + i % 80},{25 + i % 10}.5,{30 + i % 40},{70 + i % 15},{i % 3 == 0:d}\n"
            )
    report = check(path)
    assert report.ok and report.valid_rows == 200_000


def test_a_small_unchanged_file_is_parsed_once_and_read_again_after_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[Path] = []
    stream = intake._stream_rows

    def counting(*args: object) -> object:
        parsed.append(args[1])  # type: ignore[arg-type]
        return stream(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "_stream_rows", counting)
    path = write(tmp_path, [HEADER, *good_rows(), "abc,1,2,3,1"])
    first = check(path)
    rows = list(read_rows(get_disease("diabetes"), path, min_rows=500, skip_invalid_rows=True))
    again = check(path)
    assert len(parsed) == 1  # read once: the second and third readers got the kept rows
    assert len(rows) == 220 and again.valid_rows == first.valid_rows == 220
    assert again.problem_count == 1 and again.problems[0].row == first.problems[0].row == 222
    assert again.blocking == first.blocking  # this reader's own min_rows and options count
    assert not first.ok and again.columns["glucose"].as_dict() == first.columns["glucose"].as_dict()
    write(tmp_path, [HEADER, *good_rows(230)])  # the hospital replaces the file
    assert check(path).valid_rows == 230 and len(parsed) == 2
    with pytest.raises(IntakeRefused, match="Body mass index"):
        check(path, drop_columns={"bmi"})  # other options: read again
    assert len(parsed) == 3


def test_a_file_above_the_kept_size_streams_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "KEPT_ROWS", 100)
    path = write(tmp_path, [HEADER, *good_rows()])
    check(path)
    monkeypatch.setattr(intake, "_stream_rows", None)  # a second parse would fail loudly
    with pytest.raises(TypeError):
        check(path)


def _three_class_diabetes():  # type: ignore[no-untyped-def]
    from medfed.core.catalog import OutcomeClass, TargetSpec

    spec = get_disease("diabetes")
    target = TargetSpec(
        column="risk",
        classes=(
            OutcomeClass(code="low", label="Low", band="low", wording="Low."),
            OutcomeClass(code="medium", label="Medium", band="moderate", wording="Medium."),
            OutcomeClass(
                code="high", label="High", aliases=("severe",), band="high", wording="High."
            ),
        ),
    )
    dataset = spec.dataset.model_copy(update={"target": target})
    return spec.model_copy(update={"dataset": dataset, "risk_bands": ()})


def test_a_categorical_outcome_is_counted_per_class(tmp_path: Path) -> None:
    spec = _three_class_diabetes()
    levels = ["low", "Medium", "severe"]
    rows = [
        f"{100 + i % 80},{25 + i % 10}.5,{30 + i % 40},{70 + i % 15},{levels[i % 3]}"
        for i in range(60)
    ]
    path = write(tmp_path, ["glucose,bmi,age,blood_pressure,risk", *rows])
    report = check_file(spec, path)
    assert report.ok and report.class_counts == [20, 20, 20]
    labels = [label for _, label in read_rows(spec, path)]
    assert labels[:3] == [0, 1, 2]
    same = write(
        tmp_path,
        ["glucose,bmi,age,blood_pressure,risk", *[r.rsplit(",", 1)[0] + ",low" for r in rows]],
        "same.csv",
    )
    assert "same outcome" in " ".join(check_file(spec, same).blocking)
    odd = write(
        tmp_path,
        ["glucose,bmi,age,blood_pressure,risk", *rows, "120,30.5,40,70,extreme"],
        "odd.csv",
    )
    problems = check_file(spec, odd).problems
    assert problems and "low, medium, high" in problems[0].describe()
