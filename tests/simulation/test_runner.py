"""`medfed simulate` end to end (real server and node processes), and the hospitals it builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.utils.processes import medfed_env, run_medfed


@pytest.mark.own_database
def test_simulate_trains_the_comorbidity_model_over_three_hospitals_with_secure_aggregation(
    tmp_path: Path,
) -> None:
    """Real server and node processes, an untrained start, two rounds; three classes."""
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}")
    output = tmp_path / "result.json"
    result = run_medfed(
        [
            *("simulate", "--disease", "comorbidity_risk", "--hospitals", "natural"),
            *("--rounds", "2", "--workdir", str(tmp_path / "sim"), "--output", str(output)),
        ],
        env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(output.read_text())
    assert summary["config"]["secure"] is True  # on by default: the server saw only the sum
    assert list(summary["hospitals"]) == ["district", "tertiary", "elderly_care"]
    assert len(summary["rounds"]) == 2 and summary["deployed"] >= 1
    assert summary["advanced"] == 2  # the campaign's training line moved every round
    start, last = summary["start"], summary["rounds"][-1]
    assert last["line_version"] == "v1.2"
    # Three classes: an untrained start is about a third right; two rounds learn.
    assert last["combined_accuracy"] > start["combined_accuracy"] + 0.1
    assert last["line_combined_accuracy"] > start["combined_accuracy"] + 0.1
    assert (
        "round  2" in result.stdout and "2 of 2 rounds advanced the training line" in result.stdout
    )
    for index in range(3):
        log = (tmp_path / "sim" / f"node-{index}.log").read_text()
        assert "Sent the masked update for round 2" in log
