"""`medfed simulate` end to end (real server and node processes), and the hospitals it builds."""

from __future__ import annotations

import json
from pathlib import Path

from tests.utils.processes import medfed_env, run_medfed


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
    assert summary["advanced"] == 2  # the campaign's training line moved every round
    start, last = summary["start"], summary["rounds"][-1]
    assert last["line_version"] == "v1.2"
    assert last["combined_accuracy"] > start["combined_accuracy"] + 0.1
    assert last["line_combined_accuracy"] > start["combined_accuracy"] + 0.1
    assert (
        "round  2" in result.stdout and "2 of 2 rounds advanced the training line" in result.stdout
    )


def test_the_comorbidity_risk_model_trains_over_three_hospitals_with_secure_aggregation(
    tmp_path: Path,
) -> None:
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}")
    output = tmp_path / "result.json"
    result = run_medfed(
        [
            *("simulate", "--disease", "comorbidity_risk", "--hospitals", "natural"),
            *("--rounds", "1", "--workdir", str(tmp_path / "sim"), "--output", str(output)),
        ],
        env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(output.read_text())
    assert summary["config"]["secure"] is True  # on by default: the server saw only the sum
    assert list(summary["hospitals"]) == ["district", "tertiary", "elderly_care"]
    (first,) = summary["rounds"]
    assert first["status"] == "deployed" and first["line_version"] == "v1.1"
    # Three classes: an untrained start is near a third right; one round learns.
    assert first["combined_accuracy"] > summary["start"]["combined_accuracy"] + 0.1
    for index in range(3):
        log = (tmp_path / "sim" / f"node-{index}.log").read_text()
        assert "Sent the masked update for round 1" in log
