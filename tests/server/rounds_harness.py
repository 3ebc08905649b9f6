"""A server app with baselines, an admin and enrolled nodes, for driving rounds through the API."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.core.clock import utcnow
from medfed.ml.model import DiseaseModel
from medfed.server.services import buffered, campaigns, registry
from medfed.server.services.round_driver import advance_all
from tests.factories import LoggedIn, make_logged_in, make_node

# Tests report accuracies in their evaluations (`complete`), so rounds here judge accuracy.
FAST = {
    "grace_seconds": 0,
    "min_rows": 50,
    "target_epsilon": None,
    "secure": False,
    "metric": "accuracy",
}


def encode(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


@dataclass
class Rounds:
    client: TestClient
    db: Session
    admin: LoggedIn
    nodes: list[tuple[int, str]] = field(default_factory=list)  # (node id, credential)

    def add_nodes(self, count: int) -> None:
        for _ in range(count):
            node, credential = make_node(self.db)
            self.nodes.append((node.id, credential))
        self.db.rollback()

    def node_headers(self, index: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.nodes[index][1]}"}

    def open(self, disease: str = "heart", **config: Any) -> dict[str, Any]:
        body = {"disease": disease, **FAST, **config}
        response = self.client.post("/api/v1/rounds", json=body, headers=self.admin.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def round(self, round_id: int) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/rounds/{round_id}", headers=self.admin.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def join(self, round_id: int, index: int, rows: int = 100) -> Any:
        return self.client.post(
            f"/api/v1/nodes/rounds/{round_id}/join",
            json={"rows": rows},
            headers=self.node_headers(index),
        )

    def base_model(self, round_id: int, index: int = 0) -> DiseaseModel:
        response = self.client.get(
            f"/api/v1/nodes/rounds/{round_id}/base", headers=self.node_headers(index)
        )
        assert response.status_code == 200, response.text
        return DiseaseModel.from_bytes(response.content)

    def submit(
        self,
        round_id: int,
        index: int,
        vector: np.ndarray,
        *,
        job_ref: str | None = None,
        base_version: str = "v1.0",
        rows: int = 100,
        epsilon: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Any:
        body = {
            "job_ref": job_ref or f"job-{round_id}-{index}",
            "base_version": base_version,
            "rows": rows,
            "epsilon": epsilon,
            "delta": None if epsilon is None else 1e-5,
            "metrics": {},
            "update": encode(vector),
        }
        return self.client.post(
            f"/api/v1/nodes/rounds/{round_id}/update",
            json=body,
            headers=self.node_headers(index) | (extra_headers or {}),
        )

    def evaluate(
        self, round_id: int, index: int, base: float, candidate: float, rows: int = 200
    ) -> Any:
        """A hospital's report: metrics of the served version ("base") and the candidate, and
        paired sums that agree with them (every changed answer in the same direction)."""
        changed = round((candidate - base) * rows)
        brier = (candidate - base) * rows * 0.5
        body = {
            "rows": rows,
            "base": {"accuracy": base},
            "candidate": {"accuracy": candidate},
            "paired": {
                "accuracy": {"n": rows, "total": changed, "squares": abs(changed)},
                "brier": {"n": rows, "total": brier, "squares": abs(brier)},
            },
        }
        return self.client.post(
            f"/api/v1/nodes/rounds/{round_id}/evaluation",
            json=body,
            headers=self.node_headers(index),
        )

    def tick(self, after_seconds: float = 0.0) -> dict[int, str]:
        now: datetime = utcnow() + timedelta(seconds=after_seconds)
        services = self.client.app.state.round_services  # type: ignore[attr-defined]
        moved = advance_all(services, now)
        campaigns.advance_all(services.factory, now)
        buffered.flush_all(services)
        return moved

    def complete(
        self,
        round_id: int,
        served: float,
        candidate: float,
        hospitals: int = 3,
        epsilon: float | None = None,
    ) -> None:
        """Join, submit a small update (each node reporting `epsilon` charged), evaluate: the
        round ends deployed or rejected."""
        for index in range(hospitals):
            assert self.join(round_id, index).status_code == 201
        self.tick(after_seconds=15)  # past any grace period
        base = self.round(round_id)["base_version"]
        size = self.base_model(round_id).parameters.shape[0]
        for index in range(hospitals):
            update = np.random.default_rng(round_id * 10 + index).normal(0, 0.001, size)
            response = self.submit(round_id, index, update, base_version=base, epsilon=epsilon)
            assert response.status_code == 201, response.text
        self.tick()
        for index in range(hospitals):
            assert self.evaluate(round_id, index, served, candidate).status_code == 200
        self.tick()
        assert self.round(round_id)["status"] in ("deployed", "rejected")

    def contribute(
        self,
        index: int,
        vector: np.ndarray,
        *,
        base_version: str = "v1.0",
        epsilon: float | None = 1.0,
        job_ref: str | None = None,
        rows: int = 250,
    ) -> Any:
        """A node's out-of-round contribution (buffered when the disease's buffer is on)."""
        body = {
            "disease": "heart",
            "base_version": base_version,
            "job_ref": job_ref or f"buffered-{index}-{base_version}",
            "rows": rows,
            "epsilon": epsilon,
            "delta": None if epsilon is None else 1e-5,
            "metrics": {},
            "update": encode(vector),
        }
        return self.client.post(
            "/api/v1/nodes/contributions", json=body, headers=self.node_headers(index)
        )

    def active(self, disease: str = "heart") -> str:
        label = registry.active_version(self.db, disease).version
        self.db.rollback()  # SQLite: end the read so the server can write
        return label


def make_rounds(client: TestClient, db: Session, nodes: int = 3) -> Rounds:
    harness = Rounds(client, db, make_logged_in(client, db, "admin"))
    harness.add_nodes(nodes)
    return harness
