"""`medfed simulate` end to end (real server and node processes), and the hospitals it builds."""

from __future__ import annotations

import json
from pathlib import Path

from medfed.core.catalog import get_disease
from medfed.node.intake import check_file
from medfed.simulation.runner import SimulationConfig, build_hospitals
from tests.utils.processes import medfed_env, run_medfed


def test_dirichlet_hospitals_write_files_the_node_accepts(
    datasets_dir: Path, tmp_path: Path
) -> None:
    config = SimulationConfig(
        disease="diabetes", workdir=tmp_path, datasets_dir=datasets_dir, hospitals="4"
    )
    hospitals = build_hospitals(config, get_disease("diabetes"))
    assert len(hospitals) == 4
    assert sum(len(h.train) + len(h.test) for h in hospitals) == 768
    for hospital in hospitals:
        report = check_file(get_disease("diabetes"), hospital.csv_path)
        assert report.ok, report.blocking
        assert report.valid_rows == len(hospital.train)


def test_simulate_heart_natural_sites_learns_from_an_untrained_start(tmp_path: Path) -> None:
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}")
    output = tmp_path / "result.json"
    result = run_medfed(
        [
            "simulate",
            "--disease",
            "heart",
            "--hospitals",
            "natural",
            "--rounds",
            "2",
            "--workdir",
            str(tmp_path / "sim"),
            "--output",
            str(output),
        ],
        env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(output.read_text())
    assert list(summary["hospitals"]) == ["cleveland", "hungarian", "switzerland", "va"]
    assert len(summary["rounds"]) == 2 and summary["deployed"] >= 1
    start, last = summary["start"], summary["rounds"][-1]
    assert last["combined_accuracy"] > start["combined_accuracy"] + 0.1
    assert "round  2" in result.stdout
