"""A node's round steps hand back the tag of its listing with the step in it, and only when
nothing else changed: otherwise its next long poll must answer at once."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.server.api.node_rounds import LISTING_TAG
from tests.server.rounds_harness import Rounds, make_rounds


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=3)


def _listing_tag(rounds: Rounds, index: int) -> str:
    response = rounds.client.get("/api/v1/nodes/rounds", headers=rounds.node_headers(index))
    assert response.status_code == 200, response.text
    return str(response.headers["etag"])


def _held(rounds: Rounds, index: int, tag: str) -> int:
    """The status of a short long poll with this tag: 304 if the listing still has it."""
    response = rounds.client.get(
        "/api/v1/nodes/rounds",
        params={"wait": "0.2"},
        headers={**rounds.node_headers(index), "If-None-Match": tag},
    )
    return response.status_code


def _join(rounds: Rounds, round_id: int, index: int, tag: str | None) -> dict[str, str]:
    headers = rounds.node_headers(index) | ({LISTING_TAG: tag} if tag else {})
    response = rounds.client.post(
        f"/api/v1/nodes/rounds/{round_id}/join", json={"rows": 100}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.headers)


def test_a_step_on_the_current_listing_is_handed_the_tag_the_next_poll_waits_on(
    rounds: Rounds,
) -> None:
    round_id = rounds.open(max_hospitals=3)["id"]
    acted_on = _listing_tag(rounds, 0)
    assert _held(rounds, 0, acted_on) == 304
    handed = _join(rounds, round_id, 0, acted_on).get(LISTING_TAG.lower())
    assert handed is not None and handed != acted_on
    assert _held(rounds, 0, acted_on) == 200  # the join changed the listing ...
    assert _held(rounds, 0, handed) == 304  # ... and the handed tag names it as it is now
    assert _listing_tag(rounds, 0).strip('W/"') == handed


def test_no_tag_is_handed_when_anything_else_changed_or_none_was_sent(rounds: Rounds) -> None:
    before_open = _listing_tag(rounds, 0)
    round_id = rounds.open(max_hospitals=3)["id"]
    # The node acts on a listing from before the round opened: the opening is news to it.
    assert LISTING_TAG.lower() not in _join(rounds, round_id, 0, before_open)
    assert LISTING_TAG.lower() not in _join(rounds, round_id, 1, None)
    # Another hospital's step is not in this node's listing: its tag still holds.
    tag = _listing_tag(rounds, 2)
    assert _join(rounds, round_id, 2, tag).get(LISTING_TAG.lower()) is not None


def test_an_update_hands_over_its_status_change(rounds: Rounds) -> None:
    round_id = rounds.open(max_hospitals=3)["id"]
    for index in range(3):
        _join(rounds, round_id, index, None)
    rounds.tick()
    size = rounds.base_model(round_id).parameters.shape[0]
    tag = _listing_tag(rounds, 0)
    update = np.random.default_rng(0).normal(0, 0.001, size)
    submitted = rounds.submit(round_id, 0, update, extra_headers={LISTING_TAG: tag})
    assert submitted.status_code == 201, submitted.text
    handed = submitted.headers.get(LISTING_TAG)
    assert handed is not None and _held(rounds, 0, handed) == 304
