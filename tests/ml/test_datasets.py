from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from medfed.core.catalog import get_disease, use_spec_folder
from medfed.core.errors import DatasetProblem
from medfed.ml.datasets import load_dataset
from medfed.ml.preprocess import fit_preprocessor


def test_every_dataset_loads_with_the_documented_row_counts(datasets_dir: Path) -> None:
    counts = {
        d: len(load_dataset(get_disease(d), datasets_dir))
        for d in ("diabetes", "heart", "parkinsons", "breast_cancer", "kidney")
    }
    assert counts == {
        "diabetes": 768,
        "heart": 920,
        "parkinsons": 195,
        "breast_cancer": 569,
        "kidney": 400,
    }


def test_pima_zeros_become_missing(datasets_dir: Path) -> None:
    data = load_dataset(get_disease("diabetes"), datasets_dir)
    assert data.report.missing_by_feature["insulin"] == 374
    assert data.report.missing_by_feature["glucose"] == 5
    assert all(row["insulin"] != 0 for row in data.rows)


def test_kidney_stray_whitespace_and_question_marks_are_cleaned(datasets_dir: Path) -> None:
    data = load_dataset(get_disease("kidney"), datasets_dir)
    assert {row["diabetes_mellitus"] for row in data.rows} <= {True, False, None}
    assert data.labels.sum() == 250, "'ckd\\t' counts as ckd"


def test_heart_keeps_its_four_sites(datasets_dir: Path) -> None:
    data = load_dataset(get_disease("heart"), datasets_dir)
    assert {site: data.sites.count(site) for site in set(data.sites)} == {
        "cleveland": 303,
        "hungarian": 294,
        "switzerland": 123,
        "va": 200,
    }


def test_parkinsons_rows_carry_their_subject(datasets_dir: Path) -> None:
    data = load_dataset(get_disease("parkinsons"), datasets_dir)
    assert data.groups[0] == "S01" and len(set(data.groups)) == 32


def test_missing_and_altered_files_are_named(datasets_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "datasets"
    shutil.copytree(datasets_dir, copy)
    (copy / "diabetes" / "pima-indians-diabetes.csv").write_text("tampered\n")
    with pytest.raises(DatasetProblem, match=r"pima-indians-diabetes\.csv has been altered"):
        load_dataset(get_disease("diabetes"), copy)
    (copy / "heart" / "processed.va.data").unlink()
    with pytest.raises(DatasetProblem, match=r"processed\.va\.data is missing"):
        load_dataset(get_disease("heart"), copy)
    with pytest.raises(DatasetProblem, match="MEDFED_DATASETS_DIR"):
        load_dataset(get_disease("heart"), tmp_path / "nowhere")


def test_fed_heart_disease_as_flamby_defines_it(datasets_dir: Path) -> None:
    # bench/specs/heart_flamby.yaml: slope, ca and thal left out, incomplete rows dropped.
    use_spec_folder(Path(__file__).resolve().parents[2] / "bench" / "specs")
    try:
        spec = get_disease("heart_flamby")
        data = load_dataset(spec, datasets_dir)
    finally:
        use_spec_folder(None)
    assert len(data) == 740
    assert Counter(data.sites) == {"cleveland": 303, "hungarian": 261, "va": 130, "switzerland": 46}
    assert data.report.rows_incomplete == 180
    assert all(value is not None for row in data.rows for value in row.values())
    assert fit_preprocessor(spec, data.rows).width == 15  # 8 numbers + 4 + 3 one-hot columns
