"""The hospital answers an analytics query under its own policy and its own analytics budget;
what it keeps to send is its figures with its share of the noise, drawn once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from medfed.analytics import local
from medfed.analytics.query import Query, layout
from medfed.core.catalog import get_disease
from medfed.core.errors import InvalidInput
from medfed.fl.privacy import Spend
from medfed.node.analytics import (
    ANSWERED,
    AWAITING_APPROVAL,
    DECLINED,
    Asked,
    answer,
    consider,
    refusal,
)
from medfed.node.intake import read_rows
from medfed.node.policy import LocalPolicy, save_policy
from medfed.node.state import NodeState
from tests.node.conftest import site_csv


@pytest.fixture
def cleveland(datasets_dir: Path, tmp_path: Path) -> Path:
    return site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv")


def test_the_policy_declines_with_the_reason_and_spends_nothing() -> None:
    count = Asked(1, Query("heart", "count", epsilon=1.0), share=0.25)
    assert refusal(LocalPolicy(), Spend(0, 0), count) is None
    assert "does not include heart" in str(
        refusal(LocalPolicy(diseases=["diabetes"]), Spend(0, 0), count)
    )
    kinds = LocalPolicy(analytics_kinds=["prevalence"])
    assert "does not answer count queries (allowed: prevalence)" in str(
        refusal(kinds, Spend(0, 0), count)
    )
    spent = refusal(LocalPolicy(analytics_epsilon_cap=2.0), Spend(1.5, 0), count)
    assert spent is not None and "has left (0.5 of 2)" in spent
    by_name = Asked(2, Query("heart", "count"), share=1.0, per_site=True)
    assert "shown by name" in str(refusal(LocalPolicy(), Spend(0, 0), by_name))
    assert refusal(LocalPolicy(analytics_per_site=True), Spend(0, 0), by_name) is None
    with pytest.raises(ValueError, match="greater than or equal to 10"):
        LocalPolicy(analytics_min_cell=5)  # a hospital may raise the threshold, not lower it


def test_an_answer_is_drawn_once_and_kept_with_its_spend(cleveland: Path, tmp_path: Path) -> None:
    home = tmp_path / "node"
    query = Query("heart", "mean", feature="cholesterol", breakdown="sex", epsilon=1.0)
    first = answer(home, Asked(7, query, share=0.25), cleveland)
    again = answer(home, Asked(7, query, share=0.25), cleveland)  # a retry, or after a restart
    assert first.status == ANSWERED and again == first  # the same noisy vector, not a new draw
    state = NodeState(home)
    assert state.analytics_spent("heart").epsilon == pytest.approx(1.0)
    assert state.spent("heart").epsilon == 0  # training's ledger is apart
    spec = get_disease("heart")
    shape = layout(spec, query)
    exact = local.scaled(shape, local.statistics(spec, query, shape, read_rows(spec, cleveland)))
    assert first.answer is not None
    sent = np.frombuffer(first.answer, dtype="<f8")
    assert sent.shape == exact.shape and not np.allclose(sent, exact)
    assert np.max(np.abs(sent - exact)) < 60  # about 8 per scaled value at share 1/4
    # The exact figures are nowhere in the node's database either: only the noisy vector.
    raw = (home / "node.db").read_bytes() + b"".join(p.read_bytes() for p in home.glob("node.db-*"))
    assert exact.astype("<f8").tobytes()[:16] not in raw


def test_over_budget_and_unusable_files_are_declined_and_recorded(
    cleveland: Path, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    save_policy(home, LocalPolicy(analytics_epsilon_cap=1.5))
    assert (
        answer(home, Asked(1, Query("heart", "count", epsilon=1.0)), cleveland).status == ANSWERED
    )
    over = answer(home, Asked(2, Query("heart", "count", epsilon=1.0)), cleveland)
    assert over.status == DECLINED and over.epsilon == 0 and over.answer is None
    assert over.note is not None and "has left (0.5 of 1.5)" in over.note
    broken = tmp_path / "broken.csv"
    broken.write_text("age,sex\n61,1\n")
    bad = answer(home, Asked(3, Query("heart", "count", epsilon=0.5)), broken)
    assert bad.status == DECLINED and "cannot be used" in str(bad.note)
    assert NodeState(home).analytics_spent("heart").epsilon == pytest.approx(1.0)
    with sqlite3.connect(home / "node.db") as connection:
        rows = connection.execute(
            "SELECT query_id, status FROM analytics ORDER BY query_id"
        ).fetchall()
    assert rows == [(1, ANSWERED), (2, DECLINED), (3, DECLINED)]
    with pytest.raises(InvalidInput, match="no feature 'glucose'"):  # the node checks it too
        answer(home, Asked(4, Query("heart", "mean", feature="glucose")), cleveland)


def test_a_query_waits_for_approval_when_the_policy_says_so(
    cleveland: Path, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    save_policy(home, LocalPolicy(analytics_approval=True))
    asked = Asked(5, Query("heart", "prevalence", epsilon=0.5), share=0.5)
    waiting = answer(home, asked, cleveland)
    assert waiting.status == AWAITING_APPROVAL and waiting.answer is None
    state = NodeState(home)
    assert state.analytics_entry(5) is None and state.analytics_spent("heart").epsilon == 0
    state.approve_analytics(5)
    answered = answer(home, asked, cleveland)
    assert answered.status == ANSWERED and state.analytics_spent("heart").epsilon == 0.5
    # Approval does not override the rest of the policy: over budget is still declined.
    save_policy(home, LocalPolicy(analytics_approval=True, analytics_epsilon_cap=0.6))
    state.approve_analytics(6)
    over = answer(home, Asked(6, Query("heart", "count", epsilon=0.5)), cleveland)
    assert over.status == DECLINED and "has left" in str(over.note)


def test_consider_decides_without_drawing_and_waits_for_approval(
    cleveland: Path, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    save_policy(home, LocalPolicy(analytics_approval=True, analytics_kinds=["count"]))
    asked = Asked(8, Query("heart", "count", epsilon=1.0), share=0.5)
    waiting = consider(home, asked, cleveland)
    assert waiting is not None and waiting.status == AWAITING_APPROVAL
    assert "medfed node analytics approve 8" in str(waiting.note)
    state = NodeState(home)
    state.approve_analytics(8)
    assert consider(home, asked, cleveland) is None  # it would answer: nothing drawn yet
    assert state.analytics_entry(8) is None and state.analytics_spent("heart").epsilon == 0
    mean = Asked(9, Query("heart", "mean", feature="age"), share=0.5)
    declined = consider(home, mean, cleveland)  # a kind the policy does not answer: recorded
    assert declined is not None and declined.status == DECLINED
    assert state.analytics_entry(9) == declined


def test_a_per_site_answer_whose_cells_are_all_small_is_declined_before_spending(
    cleveland: Path, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    save_policy(home, LocalPolicy(analytics_per_site=True, analytics_min_cell=200))
    tiny_bands = Query("heart", "count", breakdown="age", bands=(18, 40, 50, 60, 110))
    entry = answer(home, Asked(10, tiny_bands, per_site=True), cleveland)
    assert entry.status == DECLINED and entry.epsilon == 0
    assert "fewer than 200 patients" in str(entry.note)
    assert NodeState(home).analytics_spent("heart").epsilon == 0
    wide = Query("heart", "count", breakdown="sex")  # 206 men at Cleveland: one cell is enough
    assert answer(home, Asked(11, wide, per_site=True), cleveland).status == ANSWERED
