"""Updates travel as binary frames (core/frames.py); JSON with base64 stays accepted. Whatever
the framing, a bad body is a 4xx that says what is wrong, never a 5xx, and nothing is stored."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.core import frames
from tests.server.rounds_harness import Rounds, make_rounds

FIELDS = {"base_version": "v1.0", "rows": 100, "metrics": {}}


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=3)


def _submitted(rounds: Rounds, round_id: int) -> int:
    return sum(m["submitted_at"] is not None for m in rounds.round(round_id)["members"])


def _training_round(rounds: Rounds) -> tuple[int, int]:
    opened = rounds.open()
    for index in range(3):
        assert rounds.join(opened["id"], index).status_code == 201
    rounds.tick()
    return opened["id"], rounds.base_model(opened["id"]).parameters.shape[0]


def _post(rounds: Rounds, round_id: int, index: int, body: bytes) -> object:
    return rounds.client.post(
        f"/api/v1/nodes/rounds/{round_id}/update",
        content=body,
        headers={**rounds.node_headers(index), "Content-Type": frames.CONTENT_TYPE},
    )


def test_a_binary_update_counts_like_a_json_one(rounds: Rounds) -> None:
    round_id, size = _training_round(rounds)
    vector = np.full(size, 0.001, dtype="<f4")
    framed = frames.pack({**FIELDS, "job_ref": "binary-0"}, vector.tobytes())
    answer = _post(rounds, round_id, 0, framed)
    assert answer.status_code == 201, answer.text  # type: ignore[attr-defined]
    assert rounds.submit(round_id, 1, vector).status_code == 201  # JSON + base64, as before
    assert _submitted(rounds, round_id) == 2


@pytest.mark.parametrize(
    ("make", "status", "says"),
    [
        (lambda size: b"not a frame", 422, "must start with MedFed's frame"),
        (lambda size: frames.pack({**FIELDS}, np.zeros(size, "<f4").tobytes()), 422, "job_ref"),
        (lambda size: frames.pack({**FIELDS, "job_ref": "j"}, b"\0" * 6), 422, "values"),
        (
            lambda size: frames.pack(
                {**FIELDS, "job_ref": "j"}, np.full(size, np.nan, "<f4").tobytes()
            ),
            422,
            "NaN",
        ),
        (
            lambda size: frames.pack(
                {**FIELDS, "job_ref": "j", "update": "AAAA"}, np.zeros(size, "<f4").tobytes()
            ),
            422,
            "update",
        ),
    ],
    ids=["no-frame", "missing-field", "wrong-length", "not-finite", "update-in-header"],
)
def test_a_bad_binary_update_is_refused_with_the_reason(
    rounds: Rounds, make: object, status: int, says: str
) -> None:
    round_id, size = _training_round(rounds)
    answer = _post(rounds, round_id, 0, make(size))  # type: ignore[operator]
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert says in answer.text  # type: ignore[attr-defined]
    assert _submitted(rounds, round_id) == 0
    # Refused, not spent: the same node's good update still counts.
    good = frames.pack({**FIELDS, "job_ref": "after"}, np.zeros(size, "<f4").tobytes())
    assert _post(rounds, round_id, 0, good).status_code == 201  # type: ignore[attr-defined]


def test_malformed_json_is_a_400_on_these_routes_too(rounds: Rounds) -> None:
    round_id, _ = _training_round(rounds)
    answer = rounds.client.post(
        f"/api/v1/nodes/rounds/{round_id}/update",
        content=b"{not json",
        headers={**rounds.node_headers(0), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and "not valid JSON" in answer.text
