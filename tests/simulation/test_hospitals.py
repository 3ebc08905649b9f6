"""Simulated hospitals: files the node accepts, built from the public data."""

from __future__ import annotations

from pathlib import Path

from medfed.core.catalog import get_disease
from medfed.node.intake import check_file
from medfed.simulation.hospitals import HospitalPlan, build_hospitals


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
