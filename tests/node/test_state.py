from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from medfed.fl.privacy import Spend
from medfed.ml.accounting import Mechanism, composed_epsilon, noise_for
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


def test_contributions_with_their_mechanism_compose_and_the_entries_add_up(
    tmp_path: Path,
) -> None:
    state = NodeState(tmp_path)
    mechanism = Mechanism(noise_for(1.0, 1e-5, 6, 150), 1 / 6, 10)
    alone = composed_epsilon([mechanism], 1e-5)
    charged = []
    for index in range(15):
        state.start_job(f"r{index}", "heart")
        charged.append(
            state.finish_job(f"r{index}", {"disease": "heart"}, Spend(alone, 1e-5), 240, mechanism)
        )
    assert charged[0] == pytest.approx(alone) and charged[-1] < alone / 4
    assert state.spent("heart").epsilon == pytest.approx(composed_epsilon([mechanism] * 15, 1e-5))
    assert state.spent("heart").epsilon <= 1.0
    assert state.job("r3").result["epsilon"] == charged[3], "the job says what the ledger charged"
    # What a 16th would cost is known before it trains, and recorded the same way.
    planned = state.charge("heart", mechanism, Spend(alone, 1e-5))
    state.start_job("r15", "heart")
    assert state.finish_job("r15", {"disease": "heart"}, Spend(alone, 1e-5), 240, mechanism) == (
        pytest.approx(planned)
    )


def test_a_ledger_from_before_composition_keeps_its_entries_and_adds_them(
    tmp_path: Path,
) -> None:
    connection = sqlite3.connect(tmp_path / "node.db")
    connection.executescript(
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY, disease TEXT NOT NULL, epsilon REAL NOT NULL,"
        " delta REAL NOT NULL, rows INTEGER NOT NULL, job_id TEXT NOT NULL UNIQUE,"
        " recorded_at TEXT NOT NULL, reported_at TEXT);"
        "INSERT INTO ledger (disease, epsilon, delta, rows, job_id, recorded_at)"
        " VALUES ('heart', 0.7, 1e-5, 200, 'old', '2026-01-01T00:00:00+00:00');"
        "PRAGMA user_version = 2;"
    )
    connection.close()
    state = NodeState(tmp_path)
    (entry,) = state.ledger("heart")
    assert entry.mechanism is None and entry.epsilon == 0.7
    mechanism = Mechanism(3.0, 0.1, 20)
    alone = composed_epsilon([mechanism], 1e-5)
    state.start_job("new", "heart")
    state.finish_job("new", {"disease": "heart"}, Spend(alone, 1e-5), 240, mechanism)
    assert state.spent("heart").epsilon == pytest.approx(0.7 + alone)
