"""Simulated hospitals: files the node accepts, built from the public data."""

from __future__ import annotations

from pathlib import Path

from medfed.core.catalog import get_disease
from medfed.ml.datasets import load_dataset
from medfed.ml.splits import baseline_split
from medfed.node.intake import check_file
from medfed.simulation.hospitals import HospitalPlan, build_hospitals, public_holdout_default


def test_dirichlet_hospitals_write_files_the_node_accepts(
    datasets_dir: Path, tmp_path: Path
) -> None:
    plan = HospitalPlan(datasets_dir=datasets_dir, workdir=tmp_path, hospitals="4")
    hospitals = build_hospitals(plan, get_disease("diabetes"))
    assert len(hospitals) == 4
    assert sum(len(h.train) + len(h.test) for h in hospitals) == 768
    for hospital in hospitals:
        report = check_file(get_disease("diabetes"), hospital.csv_path)
        assert report.ok, report.blocking
        assert report.valid_rows == len(hospital.train)


def test_with_a_public_holdout_no_hospital_holds_a_held_out_row(
    datasets_dir: Path, tmp_path: Path
) -> None:
    spec = get_disease("diabetes")
    data = load_dataset(spec, datasets_dir)
    _, held_out = baseline_split(spec, data)
    public = {_key(data.rows[i]) for i in held_out}
    plan = HospitalPlan(datasets_dir, tmp_path, "4", public_holdout=True)
    hospitals = build_hospitals(plan, spec)
    rows = [row for h in hospitals for part in (h.train, h.test) for row in part.rows]
    assert len(rows) == 768 - len(held_out)
    # Identical rows could exist in the data; none of the hospitals' rows is a held-out one.
    everything = [_key(row) for row in data.rows]
    duplicates = {key for key in everything if everything.count(key) > 1}
    assert not ({_key(row) for row in rows} & public) - duplicates
    assert public_holdout_default("5") and not public_holdout_default("natural")


def _key(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(sorted(row.items()))
