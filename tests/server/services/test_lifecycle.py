"""Revoking a node, rotating its credential and deactivating a hospital: each is audited, takes
effect on the very next request, and a live round drops the node at once instead of waiting for
its deadline."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.fl.secagg import protocol
from medfed.server.db.tables import AuditEvent, Node
from tests.server.rounds_harness import Rounds, make_rounds


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=3)


@dataclass(frozen=True)
class Ids:
    id: int
    hospital_id: int


def _node(rounds: Rounds, index: int) -> Ids:
    """The node's ids, read and the read ended (an open SQLite read would hold up the server)."""
    node = rounds.db.get(Node, rounds.nodes[index][0])
    assert node is not None
    ids = Ids(node.id, node.hospital_id)
    rounds.db.rollback()
    return ids


def _admin_post(rounds: Rounds, path: str, body: dict[str, object] | None = None) -> object:
    return rounds.client.post(f"/api/v1{path}", json=body, headers=rounds.admin.headers)


def _revoke(rounds: Rounds, index: int, reason: str = "laptop stolen") -> object:
    node = _node(rounds, index)
    path = f"/hospitals/{node.hospital_id}/nodes/{node.id}/revoke"
    return _admin_post(rounds, path, {"reason": reason})


def _me(rounds: Rounds, index: int, credential: str | None = None) -> object:
    token = credential or rounds.nodes[index][1]
    return rounds.client.get("/api/v1/nodes/me", headers={"Authorization": f"Bearer {token}"})


def _actions(db: Session) -> list[str]:
    db.rollback()
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_a_revoked_node_is_refused_from_its_next_request(rounds: Rounds) -> None:
    assert _me(rounds, 0).status_code == 200  # type: ignore[attr-defined]
    revoked = _revoke(rounds, 0)
    assert revoked.status_code == 200, revoked.text  # type: ignore[attr-defined]
    assert revoked.json()["revoked_at"] is not None  # type: ignore[attr-defined]
    refused = _me(rounds, 0)
    assert refused.status_code == 401  # type: ignore[attr-defined]
    error = refused.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "node_revoked"
    assert "revoked by an administrator" in error["message"]
    assert "medfed node enroll" in error["message"]
    assert _me(rounds, 1).status_code == 200  # type: ignore[attr-defined]  # only that node
    again = _revoke(rounds, 0)
    assert again.status_code == 409  # type: ignore[attr-defined]
    assert "NODE_REVOKED".lower() in _actions(rounds.db)


def test_revocation_needs_a_reason_and_the_nodes_own_hospital(rounds: Rounds) -> None:
    node = _node(rounds, 0)
    other = _node(rounds, 1)
    blank = _admin_post(
        rounds, f"/hospitals/{node.hospital_id}/nodes/{node.id}/revoke", {"reason": ""}
    )
    assert blank.status_code == 422  # type: ignore[attr-defined]
    wrong = _admin_post(
        rounds, f"/hospitals/{other.hospital_id}/nodes/{node.id}/revoke", {"reason": "x"}
    )
    assert wrong.status_code == 404  # type: ignore[attr-defined]
    as_node = rounds.client.post(
        f"/api/v1/hospitals/{node.hospital_id}/nodes/{node.id}/revoke",
        json={"reason": "x"},
        headers=rounds.node_headers(0),
    )
    assert as_node.status_code in (401, 403)
    assert _me(rounds, 0).status_code == 200  # type: ignore[attr-defined]


def test_a_round_drops_a_revoked_member_at_once_and_leaves_its_update_out(rounds: Rounds) -> None:
    rounds.add_nodes(1)
    opened = rounds.open(min_hospitals=3)
    round_id = opened["id"]
    for index in range(4):
        assert rounds.join(round_id, index).status_code == 201
    rounds.tick(after_seconds=15)
    assert rounds.round(round_id)["status"] == "training"
    size = rounds.base_model(round_id).parameters.shape[0]
    updates = [np.full(size, 0.001 * (index + 1)) for index in range(4)]
    for index in (0, 1, 3):
        assert rounds.submit(round_id, index, updates[index]).status_code == 201
    assert rounds.tick() == {}  # still waiting for hospital 2
    assert _revoke(rounds, 3).status_code == 200  # type: ignore[attr-defined]  # sent, then revoked
    assert rounds.tick() == {}  # hospital 2 still owes its update
    assert _revoke(rounds, 2).status_code == 200  # type: ignore[attr-defined]
    rounds.tick()  # no deadline passed: the round moves on because nobody else is owed
    after = rounds.round(round_id)
    assert after["status"] == "evaluating"
    statuses = sorted(m["status"] for m in after["members"])
    assert statuses == ["dropped", "dropped", "submitted", "submitted"]
    assert after["evaluation"]["contributors"] == 2
    refused = rounds.submit(round_id, 2, updates[2])
    assert refused.status_code == 401


def test_a_secure_stage_stops_waiting_for_a_revoked_member(rounds: Rounds) -> None:
    round_id = rounds.open(secure=True, min_hospitals=2)["id"]
    joined = [rounds.join(round_id, index).json() for index in range(3)]
    for index in (0, 1):  # hospital 2 never advertises its keys
        secure = joined[index]["secagg"]
        _, advert = protocol.advertise(secure["round_ref"], secure["client_id"], os.urandom)
        sent = rounds.client.post(
            f"/api/v1/nodes/rounds/{round_id}/secagg/advertise_keys",
            json=advert,
            headers=rounds.node_headers(index),
        )
        assert sent.status_code == 201, sent.text
    rounds.tick(after_seconds=15)
    assert rounds.round(round_id)["status"] == "training"
    assert _stage(rounds, round_id) == "advertise_keys"  # waiting for hospital 2's keys
    assert _revoke(rounds, 2).status_code == 200  # type: ignore[attr-defined]
    rounds.tick()  # long before the stage's deadline
    assert _stage(rounds, round_id) == "share_keys"


def _stage(rounds: Rounds, round_id: int) -> str | None:
    listed = rounds.client.get("/api/v1/nodes/rounds", headers=rounds.node_headers(0)).json()
    return next(r for r in listed if r["id"] == round_id)["stage"]


def test_a_rotated_credential_replaces_the_old_one_at_once(rounds: Rounds) -> None:
    node = _node(rounds, 0)
    rotated = _admin_post(rounds, f"/hospitals/{node.hospital_id}/nodes/{node.id}/credential")
    assert rotated.status_code == 201, rotated.text  # type: ignore[attr-defined]
    fresh = rotated.json()["credential"]  # type: ignore[attr-defined]
    assert fresh != rounds.nodes[0][1]
    assert "medfed node set-credential" in rotated.json()["instructions"]  # type: ignore[attr-defined]
    assert _me(rounds, 0).status_code == 401  # type: ignore[attr-defined]
    assert _me(rounds, 0, fresh).json()["id"] == node.id  # type: ignore[attr-defined]
    assert _revoke(rounds, 0).status_code == 200  # type: ignore[attr-defined]
    no_more = _admin_post(rounds, f"/hospitals/{node.hospital_id}/nodes/{node.id}/credential")
    assert no_more.status_code == 409  # type: ignore[attr-defined]
    rounds.db.rollback()
    details = rounds.db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "node_credential_rotated")
    ).all()
    assert details and all(fresh not in str(d) for d in details)  # the secret is never audited


def test_a_deactivated_hospital_is_refused_until_reactivated(rounds: Rounds) -> None:
    round_id = rounds.open(min_hospitals=2)["id"]
    for index in range(3):
        assert rounds.join(round_id, index).status_code == 201
    hospital_id = _node(rounds, 2).hospital_id
    off = _admin_post(rounds, f"/hospitals/{hospital_id}/deactivate", {"reason": "contract ended"})
    assert off.status_code == 200, off.text  # type: ignore[attr-defined]
    assert off.json()["is_active"] is False  # type: ignore[attr-defined]
    refused = _me(rounds, 2)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert refused.json()["error"]["code"] == "hospital_inactive"  # type: ignore[attr-defined]
    statuses = sorted(m["status"] for m in rounds.round(round_id)["members"])
    assert statuses == ["dropped", "joined", "joined"]
    token = _admin_post(rounds, f"/hospitals/{hospital_id}/enrollment-tokens")
    assert token.status_code == 409  # type: ignore[attr-defined]
    twice = _admin_post(rounds, f"/hospitals/{hospital_id}/deactivate", {"reason": "again"})
    assert twice.status_code == 409  # type: ignore[attr-defined]
    on = _admin_post(rounds, f"/hospitals/{hospital_id}/reactivate", {"reason": "renewed"})
    assert on.status_code == 200 and on.json()["is_active"] is True  # type: ignore[attr-defined]
    assert _me(rounds, 2).status_code == 200  # type: ignore[attr-defined]
    actions = _actions(rounds.db)
    assert "hospital_deactivated" in actions and "hospital_reactivated" in actions
