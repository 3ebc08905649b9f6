"""Keys advertised while a secure round is open: the first stage then ends as the cohort is
fixed, in the same transaction, so the nodes' first secure step is the sharing of keys."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.fl.secagg import protocol
from medfed.server.db.tables import AuditEvent
from tests.server.rounds_harness import Rounds, make_rounds


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=3)


def _advertise(rounds: Rounds, round_id: int, index: int, joined: dict[str, Any]) -> Any:
    secure = joined["secagg"]
    _, advertisement = protocol.advertise(secure["round_ref"], secure["client_id"], os.urandom)
    return rounds.client.post(
        f"/api/v1/nodes/rounds/{round_id}/secagg/advertise_keys",
        json=advertisement,
        headers=rounds.node_headers(index),
    )


def _stage(rounds: Rounds, round_id: int, index: int) -> str | None:
    response = rounds.client.get("/api/v1/nodes/rounds", headers=rounds.node_headers(index))
    listed = next(r for r in response.json() if r["id"] == round_id)
    return listed["stage"]


def test_keys_advertised_while_open_end_the_first_stage_as_the_cohort_is_fixed(
    rounds: Rounds, trained_db: Session
) -> None:
    round_id = rounds.open(secure=True, max_hospitals=3)["id"]
    for index in range(3):
        joined = rounds.join(round_id, index)
        assert joined.status_code == 201, joined.text
        assert joined.json()["secagg"]["client_id"] > 0
        sent = _advertise(rounds, round_id, index, joined.json())
        assert sent.status_code == 201, sent.text
        again = _advertise(rounds, round_id, index, joined.json())
        assert again.status_code == 409  # once
    early_share = rounds.client.post(
        f"/api/v1/nodes/rounds/{round_id}/secagg/share_keys",
        json={"ciphertexts": {}},
        headers=rounds.node_headers(0),
    )
    assert early_share.status_code == 409  # only the keys may come before the cohort is fixed
    assert rounds.round(round_id)["status"] == "open"
    rounds.tick()
    assert rounds.round(round_id)["status"] == "training"
    assert _stage(rounds, round_id, 0) == "share_keys"
    ended = trained_db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "secagg_stage")
    ).all()
    trained_db.rollback()
    assert [d["ended"] for d in ended] == ["advertise_keys"]
    assert ended[0]["hospitals"] == 3


def test_a_member_that_did_not_advertise_early_keeps_the_first_stage_open(
    rounds: Rounds,
) -> None:
    round_id = rounds.open(secure=True, max_hospitals=3)["id"]
    joined = [rounds.join(round_id, index).json() for index in range(3)]
    for index in range(2):
        assert _advertise(rounds, round_id, index, joined[index]).status_code == 201
    rounds.tick()
    assert _stage(rounds, round_id, 2) == "advertise_keys"
    assert _advertise(rounds, round_id, 2, joined[2]).status_code == 201  # at its stage
    rounds.tick()
    assert _stage(rounds, round_id, 2) == "share_keys"


def test_a_plain_round_has_no_keys_to_advertise(rounds: Rounds) -> None:
    round_id = rounds.open(max_hospitals=3)["id"]
    joined = rounds.join(round_id, 0)
    assert joined.json()["secagg"] is None
    refused = rounds.client.post(
        f"/api/v1/nodes/rounds/{round_id}/secagg/advertise_keys",
        json={"cipher_public": "00" * 32, "mask_public": "00" * 32, "seed_commitment": "00"},
        headers=rounds.node_headers(0),
    )
    assert refused.status_code == 409
    assert "plain mode" in refused.json()["error"]["message"]
