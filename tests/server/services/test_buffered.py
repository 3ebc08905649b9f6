"""Buffered contributions through the real API and database: refused when they could never be
used, aggregated into a training-line checkpoint once enough have arrived, then judged by the
same promotion rule as rounds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.ml.model import DiseaseModel
from medfed.server.db.tables import AuditEvent, Contribution, ModelVersion
from tests.server.rounds_harness import Rounds, make_rounds


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=4)


def _enable(harness: Rounds, **settings: Any) -> Any:
    body = {"plain_mode_acknowledged": True, **settings}
    return harness.client.put("/api/v1/buffers/heart", json=body, headers=harness.admin.headers)


def _size(harness: Rounds) -> int:
    served = harness.client.get("/api/v1/nodes/models/heart", headers=harness.node_headers(0))
    return DiseaseModel.from_bytes(served.content).parameters.shape[0]


def _versions(harness: Rounds) -> dict[str, ModelVersion]:
    found = {
        v.version: v
        for v in harness.db.scalars(select(ModelVersion).where(ModelVersion.disease == "heart"))
    }
    harness.db.rollback()
    return found


def test_three_contributions_make_a_checkpoint_weighted_by_rows_and_staleness(
    rounds: Rounds,
) -> None:
    size = _size(rounds)
    off = rounds.contribute(0, np.zeros(size))
    assert off.status_code == 409 and "off for Heart disease" in off.json()["error"]["message"]
    refused = _enable(rounds, plain_mode_acknowledged=False)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "plain_mode_acknowledged"
    assert _enable(rounds, size=3).status_code == 200
    rng = np.random.default_rng(7)
    updates = [rng.normal(0, 0.002, size) for _ in range(3)]
    rows = [200, 300, 500]
    first = rounds.contribute(0, updates[0], rows=rows[0])
    assert first.status_code == 201, first.text
    assert "1 of the 3 contributions needed" in first.json()["message"]
    assert rounds.contribute(1, updates[1], rows=rows[1]).status_code == 201
    rounds.tick()
    assert "v1.1" not in _versions(rounds)  # two of three: nothing yet
    assert rounds.contribute(2, updates[2], rows=rows[2]).status_code == 201
    rounds.tick()
    versions = _versions(rounds)
    made = versions["v1.1"]
    assert made.provenance["source"] == "buffered contributions"
    assert made.provenance["staleness"] == [0, 0, 0] and made.provenance["hospitals"] == 3
    assert made.stage in ("promoted", "trained")
    assert "reason" in made.card["promotion"] and "90 % CI" in made.card["promotion"]["reason"]
    store = rounds.client.app.state.artifact_store  # type: ignore[attr-defined]
    base = DiseaseModel.from_bytes(store.get(versions["v1.0"].artifact_key)).parameters
    after = DiseaseModel.from_bytes(store.get(made.artifact_key)).parameters
    float32 = [u.astype("<f4").astype(np.float64) for u in updates]
    expected = base + sum(w * u for w, u in zip(rows, float32, strict=True)) / sum(rows)
    np.testing.assert_allclose(after, expected, rtol=1e-9, atol=1e-12)
    statuses = set(rounds.db.scalars(select(Contribution.status)))
    actions = set(rounds.db.scalars(select(AuditEvent.action)))
    rounds.db.rollback()
    assert statuses == {"aggregated"}
    assert {"buffer_enabled", "buffer_aggregated"} <= actions
    # The next contribution trains from the new head; one from v1.0 is one behind and down-weighted.
    nodes_see = rounds.client.get(
        "/api/v1/nodes/models/heart?line=training", headers=rounds.node_headers(0)
    )
    assert nodes_see.headers["x-medfed-model-version"] == "v1.1"


def test_what_the_buffer_could_never_use_is_refused_with_the_reason(rounds: Rounds) -> None:
    size = _size(rounds)
    assert _enable(rounds, size=1, max_staleness=0).status_code == 200
    no_dp = rounds.contribute(0, np.zeros(size), epsilon=None)
    assert no_dp.status_code == 422 and no_dp.json()["error"]["field"] == "epsilon"
    huge = rounds.contribute(0, np.full(size, 10.0), job_ref="huge")
    assert huge.status_code == 422 and "L2 norm" in huge.json()["error"]["message"]
    unknown = rounds.contribute(0, np.zeros(size), base_version="v1.9")
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "base_version"
    fresh = rounds.contribute(0, np.full(size, 1e-4), job_ref="fresh")
    assert fresh.status_code == 201
    rounds.tick()  # size 1: v1.1 is made from it
    assert "v1.1" in _versions(rounds)
    stale = rounds.contribute(1, np.full(size, 1e-4), base_version="v1.0", job_ref="old")
    assert stale.status_code == 409
    message = stale.json()["error"]["message"]
    assert "1 checkpoints behind" in message and "too stale" in message
    assert rounds.db.scalar(select(Contribution.id).where(Contribution.job_ref == "old")) is None
    rounds.db.rollback()


def test_a_live_round_goes_first_and_switching_off_discards_what_waits(rounds: Rounds) -> None:
    size = _size(rounds)
    rounds.open()  # stays open
    assert _enable(rounds, size=2).status_code == 200
    for index in range(2):
        assert rounds.contribute(index, np.full(size, 1e-4)).status_code == 201
    rounds.tick()
    assert "v1.1" not in _versions(rounds)  # the open round moves the line first
    listed = rounds.client.get("/api/v1/buffers", headers=rounds.admin.headers).json()
    assert listed[0]["pending"] == 2 and listed[0]["settings"]["size"] == 2
    off = rounds.client.delete("/api/v1/buffers/heart", headers=rounds.admin.headers)
    assert off.status_code == 204
    statuses = set(rounds.db.scalars(select(Contribution.status)))
    rounds.db.rollback()
    assert statuses == {"discarded"}
    again = rounds.client.delete("/api/v1/buffers/heart", headers=rounds.admin.headers)
    assert again.status_code == 409
