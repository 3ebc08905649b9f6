"""`medfed node map`: a lab system's export passes intake after one confirmation."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfed.node import mappings
from tests.utils import emr
from tests.utils.processes import medfed_env, run_medfed


@pytest.mark.own_database
def test_an_emr_export_is_mapped_once_and_then_checks_clean(
    tmp_path: Path, datasets_dir: Path
) -> None:
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "node")
    export = emr.pima_mmol(
        datasets_dir / "diabetes" / "pima-indians-diabetes.csv", tmp_path / "lab.csv"
    )
    check = ["node", "check", str(export), "--disease", "diabetes", "--min-rows", "100"]
    refused = run_medfed(check, env)
    assert refused.returncode == 1
    assert "Proposed: 'Âge (années)' as Age" in refused.stdout, refused.stdout
    shown = run_medfed(["node", "map", str(export), "--disease", "diabetes"], env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "mmol/L → mg/dL (times 18.0156)" in shown.stdout and "Nothing saved" in shown.stdout
    assert not mappings.path_of(tmp_path / "node").exists()
    mapping = ["node", "map", str(export), "--disease", "diabetes"]
    clash = run_medfed([*mapping, "--column", "Insulin=glucose", "--accept"], env)
    assert clash.returncode == 1
    assert (
        "'Plasma Glucose (mmol/L)' and 'Insulin' are both mapped to Plasma glucose" in clash.stdout
    )
    bad_unit = run_medfed([*mapping, "--unit", "Blood Pressure=mmol/L", "--accept"], env)
    assert bad_unit.returncode == 1
    assert "column 'Blood Pressure': 'mmol/L' cannot be converted to mm Hg" in bad_unit.stdout
    assert not mappings.path_of(tmp_path / "node").exists()  # nothing half-saved
    saved = run_medfed([*mapping, "--drop-column", "Patient Name", "--accept"], env)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "768 usable rows of 768" in saved.stdout
    passed = run_medfed(check, env)
    assert passed.returncode == 0, passed.stdout
    assert "Columns read with the mapping saved for files of this shape." in passed.stdout
    assert "Unit of Plasma glucose: mmol/L → mg/dL (times 18.0156)" in passed.stdout
