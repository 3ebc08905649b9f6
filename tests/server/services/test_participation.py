"""What hospitals see: their round history with its impact, and the leaderboard with opt-out."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.server.db.tables import Hospital, Node
from medfed.server.services.participation import OPTED_OUT
from tests.factories import make_logged_in, make_user
from tests.server.rounds_harness import make_rounds
from tests.server.web.test_pages import sign_in


def test_history_impact_and_leaderboard(trained_client: TestClient, trained_db: Session) -> None:
    rounds = make_rounds(trained_client, trained_db, nodes=3)
    opened = rounds.open()
    for index in range(3):
        rounds.join(opened["id"], index, rows=100 * (index + 1))
    rounds.tick()
    size = rounds.base_model(opened["id"]).parameters.shape[0]
    for index in range(3):
        update = np.random.default_rng(index).normal(0, 1e-3, size)
        rounds.submit(opened["id"], index, update, rows=100 * (index + 1))
    rounds.tick()
    for index in range(3):
        rounds.evaluate(opened["id"], index, 0.70, 0.75)
    rounds.tick()
    assert rounds.round(opened["id"])["status"] == "deployed"

    hospital_ids = []
    for node_id, _ in rounds.nodes:
        node = trained_db.get(Node, node_id)
        assert node is not None
        hospital_ids.append(node.hospital_id)
    first = trained_db.get(Hospital, hospital_ids[0])
    assert first is not None
    first_name = first.name
    staff = make_logged_in(trained_client, trained_db, "hospital", hospital=first)
    other = make_logged_in(
        trained_client, trained_db, "hospital", hospital=trained_db.get(Hospital, hospital_ids[1])
    )
    trained_db.rollback()

    history = trained_client.get(
        f"/api/v1/hospitals/{hospital_ids[0]}/rounds", headers=staff.headers
    )
    assert history.status_code == 200
    [entry] = history.json()
    assert entry["round_status"] == "deployed" and entry["result_version"] == "v1.1"
    assert entry["my_status"] == "evaluated" and entry["rows"] == 100
    assert entry["local_impact"]["accuracy"] == 0.05
    assert entry["global_change"]["accuracy"] is not None
    forbidden = trained_client.get(
        f"/api/v1/hospitals/{hospital_ids[0]}/rounds", headers=other.headers
    )
    assert forbidden.status_code == 403

    board = trained_client.get("/api/v1/leaderboard", headers=staff.headers).json()
    assert [e["rows"] for e in board] == [300, 200, 100]
    assert first_name in {e["hospital"] for e in board}
    choice = trained_client.put(
        f"/api/v1/hospitals/{hospital_ids[0]}/leaderboard",
        json={"show": False},
        headers=staff.headers,
    )
    assert choice.status_code == 204
    board = trained_client.get("/api/v1/leaderboard", headers=other.headers).json()
    names = [e["hospital"] for e in board]
    assert first_name not in names and names[-1] == OPTED_OUT
    assert board[-1]["rows"] == 100  # its contribution still counts


def test_history_says_whether_an_update_joined_the_training_line_and_reached_doctors(
    trained_client: TestClient, trained_db: Session
) -> None:
    rounds = make_rounds(trained_client, trained_db, nodes=3)
    first = rounds.open()
    rounds.complete(first["id"], 0.80, 0.70)  # worse: trained, not promoted
    assert rounds.round(first["id"])["status"] == "rejected"
    node = trained_db.get(Node, rounds.nodes[0][0])
    assert node is not None
    hospital = trained_db.get(Hospital, node.hospital_id)
    staff = make_logged_in(trained_client, trained_db, "hospital", hospital=hospital)
    trained_db.rollback()
    url = f"/api/v1/hospitals/{node.hospital_id}/rounds"
    [entry] = trained_client.get(url, headers=staff.headers).json()
    assert entry["in_training_line"] is True and entry["reached_doctors"] is None
    make_user(trained_db, "doctor", username="doctor.line")
    trained_db.rollback()
    assert sign_in(trained_client, "doctor.line").status_code == 303
    card = trained_client.get("/models/heart").text
    assert "No federated round has improved on the baseline yet: doctors get v1.0" in card
    assert "1 newer checkpoint (latest v1.1) was trained since" in card
    second = rounds.open()
    rounds.complete(second["id"], 0.70, 0.80)  # better: promoted, carrying round 1's update too
    assert rounds.round(second["id"])["status"] == "deployed"
    latest, earlier = trained_client.get(url, headers=staff.headers).json()
    assert latest["reached_doctors"] == "v1.2" and earlier["reached_doctors"] == "v1.2"
    card = trained_client.get("/models/heart").text
    assert "last improved the version doctors get on" in card and "(round 2)" in card
