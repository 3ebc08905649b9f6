"""Rounds and campaigns for named hospitals: the others are not offered them and cannot join;
the names are checked when the round is opened."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.server.db.tables import Node
from tests.server.rounds_harness import make_rounds


def test_a_round_for_named_hospitals_is_theirs_alone(
    trained_client: TestClient, trained_db: Session
) -> None:
    rounds = make_rounds(trained_client, trained_db, nodes=3)
    hospital_of = [trained_db.get(Node, node_id).hospital_id for node_id, _ in rounds.nodes]  # type: ignore[union-attr]
    trained_db.rollback()
    named = sorted(hospital_of[:2])
    opened = rounds.open(min_hospitals=2, hospitals=named)
    assert opened["config"]["hospitals"] == named

    def offered(index: int) -> list[int]:
        listing = trained_client.get("/api/v1/nodes/rounds", headers=rounds.node_headers(index))
        return [r["id"] for r in listing.json()]

    assert opened["id"] in offered(0) and opened["id"] not in offered(2)
    refused = rounds.join(opened["id"], 2)
    assert refused.status_code == 403 and "named hospitals" in refused.json()["error"]["message"]
    one = trained_client.get(f"/api/v1/nodes/rounds/{opened['id']}", headers=rounds.node_headers(2))
    assert one.status_code == 403
    assert rounds.join(opened["id"], 0).status_code == 201


def test_named_hospitals_are_checked_when_the_round_is_opened(
    trained_client: TestClient, trained_db: Session
) -> None:
    rounds = make_rounds(trained_client, trained_db, nodes=1)
    admin = rounds.admin.headers
    base = {"disease": "heart", "secure": True}
    unknown = trained_client.post(
        "/api/v1/rounds", json={**base, "min_hospitals": 1, "hospitals": [999]}, headers=admin
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "hospitals"
    too_few = trained_client.post(
        "/api/v1/rounds", json={**base, "min_hospitals": 3, "hospitals": [1]}, headers=admin
    )
    assert too_few.status_code == 422
    assert "more than the 1 hospitals" in too_few.json()["error"]["message"]
    campaign = trained_client.post(
        "/api/v1/campaigns",
        json={
            "disease": "heart",
            "rounds": 2,
            "epsilon_budget": 4,
            "round": {"min_hospitals": 1, "hospitals": [999]},
        },
        headers=admin,
    )
    assert campaign.status_code == 422 and campaign.json()["error"]["field"] == "hospitals"
