from __future__ import annotations

import math
from pathlib import Path

from medfed.fl.privacy import Spend
from medfed.node.state import NodeState


def test_job_result_and_ledger_entry_land_together(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.start_job("j1", "heart")
    state.finish_job("j1", {"disease": "heart", "epsilon": 0.9}, Spend(0.9, 1e-5), rows=240)
    state.start_job("j2", "heart")
    state.fail_job("j2", "bad file")
    assert [job.status for job in state.jobs()] == ["trained", "failed"]
    assert state.spent("heart") == Spend(0.9, 1e-5)
    assert NodeState(tmp_path).spent("heart").epsilon == 0.9, "survives a restart"


def test_reporting_marks_entries(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    for index in range(3):
        state.start_job(f"j{index}", "diabetes")
        state.finish_job(f"j{index}", {"disease": "diabetes"}, Spend(0.5, 1e-6), rows=300)
    entries = state.ledger("diabetes")
    state.mark_reported([entries[0].id])
    assert [e.reported_at is not None for e in state.ledger()] == [True, False, False]
    assert math.isclose(state.spent("diabetes").epsilon, 1.5)
