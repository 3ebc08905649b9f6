"""The server's side of federated analytics, on the test database (SQLite or PostgreSQL): who
is asked, what is reported for each hospital, and what is released, or withheld, and why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from medfed.analytics.query import Query
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.core.errors import Conflict, InvalidInput, PermissionDenied
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.db.tables import Node
from medfed.server.services import analytics
from medfed.server.services.analytics import Asking
from medfed.server.services.enrollment import NodeCaller
from tests.factories import make_hospital, make_node
from tests.utils.processes import medfed_env, run_medfed

BY_SEX = Query("heart", "count", breakdown="sex", epsilon=1.0, mechanism="laplace")


@pytest.fixture
def factory(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.resolved_database_url))


def _nodes(db: Session, names: tuple[str, ...]) -> list[NodeCaller]:
    nodes = []
    for name in names:
        node, _ = make_node(db, make_hospital(db, name), name=f"{name} node")
        nodes.append(NodeCaller(node.id, node.hospital_id, None))
    return nodes


def _later(
    db: Session | None, factory: sessionmaker[Session], query_id: int, seconds: float = 3600
) -> None:
    """Advance the query as the ticker would `seconds` from now (the test's session first ends
    its transaction: on SQLite a reader holds the write turn)."""
    if db is not None:
        db.rollback()
    while analytics.advance(factory, query_id, utcnow() + timedelta(seconds=seconds)):
        pass


def _counts(female: float, male: float, missing: float) -> bytes:
    return np.asarray([female, male, missing], dtype="<f8").tobytes()


def test_per_site_answers_are_released_by_name_with_decliners_and_the_silent_reported(
    db: Session, factory: sessionmaker[Session]
) -> None:
    a, b, c, _ = _nodes(db, ("Alpha", "Beta", "Gamma", "Delta"))
    asked = analytics.ask(db, Asking(BY_SEX, per_site=True), actor="user:ana")
    db.commit()
    assert {m.status for m in asked.members} == {"asked"}
    assert [q["id"] for q in analytics.for_node(db, a)] == [asked.id]
    analytics.answer(db, a, asked.id, _counts(60, 80, 2), epsilon=1.0, delta=0.0, min_cell=10)
    analytics.answer(db, b, asked.id, _counts(30, 45, 0), epsilon=1.0, delta=0.0, min_cell=40)
    analytics.decline(db, c, asked.id, "this hospital's policy does not answer count queries")
    db.commit()
    with pytest.raises(Conflict, match="already"):
        analytics.answer(db, a, asked.id, _counts(1, 1, 1), epsilon=1.0, delta=0.0, min_cell=10)
    db.rollback()
    query_id = asked.id
    _later(db, factory, query_id)  # Delta never answers: dropped at the deadline
    db.expire_all()
    done = analytics.get_query(db, query_id)
    assert done.status == "released", done.reason
    statuses = {m.hospital.name: (m.status, m.reason) for m in done.members}
    assert statuses["Gamma"] == ("declined", "this hospital's policy does not answer count queries")
    assert statuses["Delta"][0] == "dropped" and "did not answer within" in str(
        statuses["Delta"][1]
    )
    result = done.result or {}
    assert sorted(result["sites"]) == ["Alpha", "Beta"]
    assert result["min_cell"] == 40  # the highest threshold a contributing hospital set
    alpha = {cell["cell"]: cell for cell in result["sites"]["Alpha"]}
    assert alpha["missing"] == {"cell": "missing", "label": alpha["missing"]["label"],
                                "suppressed": True}  # fmt: skip
    assert alpha["1"]["rows"] == 80 and alpha["1"]["dp_error"] > 0
    network = {cell["cell"]: cell for cell in result["network"]["cells"]}
    assert network["0"]["rows"] == 90 and result["network"]["hospitals"] == 2
    assert [x["hospital"] for x in result["declined"]] == ["Gamma"]
    assert analytics.for_node(db, a) == []  # nothing live is left for the nodes


def test_a_release_whose_every_cell_is_under_the_threshold_shows_nothing_and_says_so(
    db: Session, factory: sessionmaker[Session]
) -> None:
    a, b = _nodes(db, ("Small A", "Small B"))
    asked = analytics.ask(db, Asking(BY_SEX, per_site=True), actor="user:ana")
    analytics.answer(db, a, asked.id, _counts(3, 4, 0), epsilon=1.0, delta=0.0, min_cell=10)
    analytics.answer(db, b, asked.id, _counts(2, 1, 0), epsilon=1.0, delta=0.0, min_cell=10)
    db.commit()
    query_id = asked.id
    _later(db, factory, query_id, 0)  # everyone answered: no need to wait for the deadline
    db.expire_all()
    done = analytics.get_query(db, query_id)
    assert "every cell is under the suppression threshold (10): nothing is shown" in str(
        done.reason
    )
    result = done.result or {}
    for cells in [result["network"]["cells"], *result["sites"].values()]:
        assert all(set(cell) == {"cell", "label", "suppressed"} for cell in cells)


def test_who_may_send_what(db: Session, factory: sessionmaker[Session]) -> None:
    a, b = _nodes(db, ("One", "Two"))
    network = analytics.ask(db, Asking(Query("heart", "count")), actor="user:ana")
    db.commit()
    with pytest.raises(Conflict, match="network-wide"):
        analytics.answer(db, a, network.id, _counts(1, 2, 3), epsilon=1.0, delta=0, min_cell=10)
    outsider = NodeCaller(a.id, b.hospital_id, None)  # a credential of another hospital's node
    with pytest.raises(PermissionDenied):
        analytics.decline(db, outsider, network.id, "no")
    with pytest.raises(InvalidInput, match="stage; the stages are advertise_keys"):
        analytics.join(db, a, network.id, "no_such_stage", {})
    db.rollback()
    by_name = analytics.ask(db, Asking(BY_SEX, per_site=True), actor="user:ana")
    with pytest.raises(InvalidInput, match="3 finite float64 values"):
        analytics.answer(db, a, by_name.id, b"\x00" * 8, epsilon=1.0, delta=0.0, min_cell=10)
    cancelled = analytics.cancel(db, network.id, actor="user:ana")
    assert cancelled.status == "cancelled" and cancelled.reason == "cancelled by user:ana"
    with pytest.raises(Conflict, match="only a live query"):
        analytics.cancel(db, network.id, actor="user:ana")


def test_a_network_query_nobody_joins_fails_before_anyone_spends(
    db: Session, factory: sessionmaker[Session]
) -> None:
    a, b, _ = _nodes(db, ("N1", "N2", "N3"))
    asked = analytics.ask(db, Asking(Query("heart", "count"), min_hospitals=2), actor="u")
    analytics.decline(db, a, asked.id, "budget")
    db.commit()
    query_id = asked.id
    _later(db, factory, query_id)
    db.expire_all()
    done = analytics.get_query(db, query_id)
    assert done.status == "failed"
    assert done.reason is not None and done.reason.startswith("only 0 of 3 hospitals agreed")
    assert "1 declined, 2 did not answer" in done.reason
    with pytest.raises(Conflict, match="needs 5"):
        analytics.ask(db, Asking(Query("heart", "count"), min_hospitals=5), actor="u")
    revoked = db.get(Node, b.id)
    assert revoked is not None
    revoked.revoked_at = utcnow()
    db.commit()
    again = analytics.ask(db, Asking(Query("heart", "count")), actor="u")
    assert {m.hospital.name for m in again.members} == {"N1", "N3"}  # active nodes only


def test_the_command_line_asks_lists_shows_and_exports(tmp_path: Path, database_url: str) -> None:
    env = medfed_env(tmp_path / "home", database_url, tmp_path / "node")
    nobody = run_medfed(["analytics", "ask", "heart", "--kind", "count"], env)
    assert nobody.returncode == 1 and "Only 0 hospitals have an active node" in nobody.stderr
    bad = run_medfed(["analytics", "ask", "heart", "--kind", "histogram", "--feature", "age",
                      "--bins", "40,30"], env)  # fmt: skip
    assert bad.returncode == 1 and "must rise strictly" in bad.stderr
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as db:
        a, b = _nodes(db, ("CLI A", "CLI B"))
    asked = run_medfed(
        ["analytics", "ask", "heart", "--kind", "count", "--breakdown", "sex", "--per-site",
         "--mechanism", "laplace", "--epsilon", "0.5"], env,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert "Query 1 (heart): count by sex, per site, by name, epsilon 0.5: collecting" in (
        asked.stdout
    )
    with factory() as db:
        analytics.answer(db, a, 1, _counts(50, 60, 0), epsilon=0.5, delta=0.0, min_cell=10)
        analytics.answer(db, b, 1, _counts(20, 30, 0), epsilon=0.5, delta=0.0, min_cell=10)
        db.commit()
    _later(None, factory, 1, 0)
    engine.dispose()
    shown = run_medfed(["analytics", "show", "1"], env)
    assert shown.returncode == 0, shown.stderr
    assert "released" in shown.stdout and "CLI A" in shown.stdout and "laplace" in shown.stdout
    out = tmp_path / "q1.csv"
    exported = run_medfed(["analytics", "export", "1", "--output", str(out)], env)
    assert exported.returncode == 0, exported.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "scope,cell,label,statistic,value,dp_error,ci95_low,ci95_high"
    assert any(line.startswith("CLI A,0,") for line in lines)
    listed = run_medfed(["analytics", "list"], env)
    assert "2/2 answered" in listed.stdout
    counts = run_medfed(["analytics", "standardise", "heart", "--query", "1"], env)
    assert counts.returncode == 1 and "takes a mean over all patients" in counts.stderr
