"""Federated analytics against a real server process: hospitals' nodes answer a question under
their own policies, network-wide through secure aggregation or by name, and the server releases
only noisy figures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.analytics import local
from medfed.analytics.query import Query, layout
from medfed.core.catalog import get_disease
from medfed.node.intake import read_rows
from medfed.node.policy import LocalPolicy, save_policy
from medfed.node.rounds import RoundAgent
from medfed.node.state import NodeState
from medfed.server.db.analytics_tables import AnalyticsMember, AnalyticsMessage, AnalyticsQuery
from tests.node.conftest import admin_headers, site_csv
from tests.node.test_rounds import _site_agents
from tests.utils.processes import ServerProcess

SITES = ("cleveland", "hungarian", "va", "switzerland")


def _ask(server: ServerProcess, headers: dict[str, str], **body: Any) -> httpx.Response:
    return httpx.post(server.url + "/api/v1/analytics", json=body, headers=headers)


def _until(
    agents: list[RoundAgent], server: ServerProcess, headers: dict[str, str], query_id: int,
    done: Callable[[dict[str, Any]], bool] = lambda q: q["status"] not in ("collecting", "aggregating"),
) -> dict[str, Any]:  # fmt: skip
    for _ in range(300):
        for agent in agents:
            agent.analytics.step()
        found = httpx.get(f"{server.url}/api/v1/analytics/{query_id}", headers=headers).json()
        if done(found):
            return dict(found)
        time.sleep(0.2)
    raise AssertionError(f"query {query_id} did not end in time: {found}")


def _exact(datasets_dir: Path, tmp_path: Path, query: Query, sites: tuple[str, ...]) -> np.ndarray:
    spec = get_disease(query.disease)
    shape = layout(spec, query)
    total = np.zeros(shape.size)
    for site in sites:
        path = site_csv(datasets_dir, site, tmp_path / f"exact-{site}.csv")
        total += local.statistics(spec, query, shape, read_rows(spec, path))
    return total


@pytest.mark.slow
def test_a_network_wide_count_is_summed_securely_and_a_declining_hospital_is_reported(
    live_server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    process = live_server[0]
    agents = _site_agents(live_server, datasets_dir, tmp_path, SITES, "FA")
    save_policy(agents[3].node_home, LocalPolicy(analytics_kinds=["prevalence"]))
    headers = admin_headers(process, trained_db)
    names = [f"{site} FA" for site in SITES]
    asked = _ask(
        process, headers, disease="heart", kind="count", breakdown="sex", epsilon=1.0,
        hospitals=names, collect_seconds=60, stage_seconds=30,
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    query_id = asked.json()["id"]
    released = _until(agents, process, headers, query_id)
    assert released["status"] == "released", released
    by_name = {h["hospital"]: h for h in released["hospitals"]}
    assert by_name["switzerland FA"]["status"] == "declined"
    assert "does not answer count queries" in by_name["switzerland FA"]["reason"]
    assert by_name["switzerland FA"]["epsilon"] is None
    assert [by_name[n]["epsilon"] for n in names[:3]] == [1.0, 1.0, 1.0]
    result = released["result"]
    assert result["network"]["hospitals"] == 3
    assert [d["hospital"] for d in result["declined"]] == ["switzerland FA"]

    query = Query("heart", "count", breakdown="sex", epsilon=1.0)
    exact = _exact(datasets_dir, tmp_path, query, SITES[:3])
    cells = {c["cell"]: c for c in result["network"]["cells"]}
    shape = layout(get_disease("heart"), query)
    for index, cell in enumerate(shape.cells):
        released_cell = cells[cell.key]
        if exact[index] < 10:  # e.g. sex not recorded: never shown as a number
            assert released_cell.get("rows") is None
            continue
        # Each count lies within its stated 95 % bound almost surely; 3x is certain enough.
        assert abs(released_cell["rows"] - exact[index]) <= 3 * released_cell["dp_error"]

    # The server holds neither a hospital's exact figures nor its noisy answer in the clear.
    trained_db.rollback()
    stored = [
        bytes(payload)
        for (payload,) in trained_db.execute(
            select(AnalyticsMessage.payload).where(AnalyticsMessage.query_id == query_id)
        )
    ]
    rows = trained_db.execute(select(AnalyticsQuery.result, AnalyticsQuery.secagg)).all()
    trained_db.rollback()
    server_bytes = b"".join(stored) + json.dumps([list(r) for r in rows]).encode()
    bind = trained_db.get_bind()
    if bind.dialect.name == "sqlite":  # and the whole file, whatever table it might be in
        server_bytes += Path(str(bind.url.database)).read_bytes()
    for agent, site in zip(agents[:3], SITES[:3], strict=True):
        entry = NodeState(agent.node_home).analytics_entry(query_id)
        assert entry is not None and entry.answer is not None
        own = _exact(datasets_dir, tmp_path, query, (site,))
        assert own.astype("<f8").tobytes() not in server_bytes
        assert entry.answer not in server_bytes
        # The analytics spend sits in its own ledger, not training's.
        state = NodeState(agent.node_home)
        assert state.analytics_spent("heart").epsilon == pytest.approx(1.0)
        assert state.spent("heart").epsilon == 0
    trained_db.rollback()
    answers = trained_db.scalars(
        select(AnalyticsMember.answer).where(AnalyticsMember.query_id == query_id)
    ).all()
    assert answers == [None] * 4  # a network-wide answer never sits at the server unmasked
    assert NodeState(agents[3].node_home).analytics_spent("heart").epsilon == 0
