"""A round's whole life through the real API and database: cohort, updates, gate, deploy or not."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.fl.privacy import LEARNING_RATE
from medfed.server.db.tables import AuditEvent, Contribution, ModelVersion
from tests.server.rounds_harness import Rounds, make_rounds


@pytest.fixture
def rounds(trained_client: TestClient, trained_db: Session) -> Rounds:
    return make_rounds(trained_client, trained_db, nodes=4)


def _small_update(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.001, size)


def _run_to_training(rounds: Rounds, members: int = 3, **config: object) -> tuple[int, int]:
    opened = rounds.open(**config)
    for index in range(members):
        assert rounds.join(opened["id"], index).status_code == 201
    rounds.tick()
    assert rounds.round(opened["id"])["status"] == "training"
    size = rounds.base_model(opened["id"]).parameters.shape[0]
    return opened["id"], size


def test_a_good_round_deploys_the_next_version_and_everyone_sees_it(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds)
    for index in range(3):
        assert rounds.submit(round_id, index, _small_update(size, index)).status_code == 201
    rounds.tick()
    evaluating = rounds.round(round_id)
    assert evaluating["status"] == "evaluating"
    server = evaluating["evaluation"]["server"]
    assert server["served"]["rows"] > 0 and server["candidate"]["accuracy"] is not None
    assert evaluating["evaluation"]["served_version"] == "v1.0"
    for index in range(3):
        assert rounds.evaluate(round_id, index, 0.80, 0.81).status_code == 200
    rounds.tick()
    done = rounds.round(round_id)
    assert done["status"] == "deployed", done["reason"]
    assert done["result_version"] == "v1.1" == rounds.active()
    assert "promoted, better: accuracy +" in done["reason"] and "90 % CI" in done["reason"]
    assert done["evaluation"]["federated"]["candidate"]["accuracy"] == pytest.approx(0.81)
    # The node learns the outcome when it asks.
    mine = rounds.client.get(f"/api/v1/nodes/rounds/{round_id}", headers=rounds.node_headers(0))
    assert mine.json()["status"] == "deployed" and mine.json()["result_version"] == "v1.1"
    # The new version is exactly base + the row-weighted mean of the updates (FedAvg).
    versions = {
        v.version: v
        for v in rounds.db.scalars(select(ModelVersion).where(ModelVersion.disease == "heart"))
    }
    assert versions["v1.1"].provenance["hospitals"] == 3
    assert versions["v1.1"].contributing_hospitals == 3
    rounds.db.rollback()


def test_a_blank_learning_rate_is_left_to_the_nodes_and_the_card_says_what_it_was(
    rounds: Rounds,
) -> None:
    # blank: each node's default for its model and privacy (fl/privacy.py); typed: as typed
    assert rounds.open("kidney", learning_rate=0.3)["config"]["learning_rate"] == 0.3
    opened = rounds.open()
    assert opened["config"]["learning_rate"] is None
    rounds.complete(opened["id"], served=0.7, candidate=0.8)
    label = rounds.round(opened["id"])["result_version"]
    version = rounds.db.scalars(
        select(ModelVersion).where(
            ModelVersion.disease == "heart", ModelVersion.major == 1, ModelVersion.minor == 1
        )
    ).one()
    assert label == version.version
    assert version.card["training"]["learning rate"] == LEARNING_RATE  # heart: logistic
    rounds.db.rollback()


def test_fedavg_candidate_is_the_weighted_mean_of_the_updates(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds)
    base = rounds.base_model(round_id).parameters
    updates = [_small_update(size, 10 + i) for i in range(3)]
    rows = [100, 300, 600]
    for index in range(3):
        assert rounds.submit(round_id, index, updates[index], rows=rows[index]).status_code == 201
    rounds.tick()
    response = rounds.client.get(
        f"/api/v1/nodes/rounds/{round_id}/candidate", headers=rounds.node_headers(0)
    )
    from medfed.ml.model import DiseaseModel

    candidate = DiseaseModel.from_bytes(response.content).parameters
    float32 = [u.astype("<f4").astype(np.float64) for u in updates]
    mean = sum(w * u for w, u in zip(rows, float32, strict=True)) / sum(rows)
    # The weighted sum is accumulated in float32, the precision updates travel in: each
    # coordinate of the mean is within a few float32 steps of the exact one.
    np.testing.assert_allclose(candidate - base, mean, rtol=1e-6, atol=1e-9)
    assert not np.allclose(candidate - base, 0, atol=1e-6)


def test_a_worse_candidate_is_not_served_but_the_training_line_continues_from_it(
    rounds: Rounds,
) -> None:
    round_id, _ = _run_to_training(rounds)
    base = rounds.base_model(round_id).parameters
    for index in range(3):
        # Every hospital pushes the weights to their negation: a much worse model.
        assert rounds.submit(round_id, index, -2 * base).status_code == 201
    rounds.tick()
    for index in range(3):
        rounds.evaluate(round_id, index, 0.80, 0.40)
    rounds.tick()
    done = rounds.round(round_id)
    assert done["status"] == "rejected"
    assert "not promoted" in done["reason"] and "doctors keep v1.0" in done["reason"]
    assert done["result_version"] == "v1.1"  # a trained checkpoint on the training line
    assert rounds.active() == "v1.0"
    promotion = done["evaluation"]["promotion"]
    assert not promotion["promote"] and promotion["accuracy"]["total"] < 0
    trained = rounds.db.scalars(
        select(ModelVersion).where(ModelVersion.disease == "heart", ModelVersion.minor == 1)
    ).one()
    assert (trained.stage, trained.state, trained.is_active) == ("trained", "trained", False)
    rounds.db.rollback()
    mine = rounds.client.get(f"/api/v1/nodes/rounds/{round_id}", headers=rounds.node_headers(1))
    assert mine.json()["status"] == "rejected" and mine.json()["result_version"] == "v1.1"
    listed = rounds.client.get("/api/v1/models/heart", headers=rounds.admin.headers).json()
    states = {v["version"]: v["state"] for v in listed["versions"]}
    assert states == {"v1.0": "in service", "v1.1": "trained"}
    # The next round continues the training line from v1.1, not from the served v1.0.
    assert rounds.open()["base_version"] == "v1.1"


def test_the_hospitals_evidence_alone_keeps_a_candidate_from_doctors(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds)
    for index in range(3):
        rounds.submit(round_id, index, _small_update(size, index))
    rounds.tick()
    for index in range(3):
        rounds.evaluate(round_id, index, 0.80, 0.70)  # the hospitals' own data says worse
    rounds.tick()
    done = rounds.round(round_id)
    assert done["status"] == "rejected"
    assert "not promoted" in done["reason"] and rounds.active() == "v1.0"
    assert done["evaluation"]["promotion"]["hospitals"] == 3


def test_a_round_below_the_minimum_at_its_deadline_fails_and_says_why(rounds: Rounds) -> None:
    opened = rounds.open(min_hospitals=3, join_seconds=60)
    rounds.join(opened["id"], 0)
    rounds.join(opened["id"], 1)
    assert rounds.tick() == {}
    assert rounds.round(opened["id"])["status"] == "open"
    rounds.tick(after_seconds=61)
    failed = rounds.round(opened["id"])
    assert failed["status"] == "failed"
    assert "only 2 of the 3 hospitals needed joined" in failed["reason"]
    for index in (0, 1):
        mine = rounds.client.get(
            f"/api/v1/nodes/rounds/{opened['id']}", headers=rounds.node_headers(index)
        )
        assert mine.json()["status"] == "failed" and "only 2 of the 3" in mine.json()["reason"]
    # A new round can be opened once this one has ended.
    assert rounds.open()["number"] == opened["number"] + 1


def test_missing_submissions_drop_out_at_the_deadline(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds, members=4, min_hospitals=3, submit_seconds=30)
    for index in range(3):
        rounds.submit(round_id, index, _small_update(size, index))
    assert rounds.tick() == {}  # still waiting for the fourth
    rounds.tick(after_seconds=31)
    state = rounds.round(round_id)
    assert state["status"] == "evaluating"
    assert [m["status"] for m in state["members"]].count("dropped") == 1
    late = rounds.submit(round_id, 3, _small_update(size, 3))
    assert late.status_code == 409


def test_too_few_submissions_by_the_deadline_fail_the_round(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds, submit_seconds=30)
    rounds.submit(round_id, 0, _small_update(size, 0))
    rounds.tick(after_seconds=31)
    failed = rounds.round(round_id)
    assert failed["status"] == "failed"
    assert "only 1 of the 3 updates needed arrived" in failed["reason"]


def test_bad_updates_are_refused_with_reasons_and_audited(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds)
    cases = {
        "wrong length": (rounds.submit(round_id, 0, np.zeros(size + 1)), 422, "parameters"),
        "not finite": (rounds.submit(round_id, 0, np.full(size, np.nan)), 422, "NaN"),
        "too large": (rounds.submit(round_id, 0, np.full(size, 50.0)), 422, "norm"),
        "stale base": (
            rounds.submit(round_id, 0, np.zeros(size), base_version="v0.9"),
            409,
            "stale",
        ),
        "not a member": (rounds.submit(round_id, 3, np.zeros(size)), 403, "not in the cohort"),
    }
    for name, (response, status, words) in cases.items():
        assert response.status_code == status, (name, response.text)
        assert words in response.json()["error"]["message"], name
    assert rounds.submit(round_id, 0, _small_update(size, 0), job_ref="j1").status_code == 201
    duplicate = rounds.submit(round_id, 0, _small_update(size, 0), job_ref="j2")
    assert duplicate.status_code == 409 and "already received" in duplicate.text
    # Replaying an accepted job into the next round is refused too.
    rounds.submit(round_id, 1, _small_update(size, 1))
    rounds.submit(round_id, 2, _small_update(size, 2))
    rounds.tick()
    for index in range(3):
        rounds.evaluate(round_id, index, 0.8, 0.8)
    rounds.tick()
    second = rounds.open()
    rounds.join(second["id"], 0)
    rounds.join(second["id"], 1)
    rounds.join(second["id"], 2)
    rounds.tick()
    replay = rounds.submit(
        second["id"], 0, _small_update(size, 0), job_ref="j1", base_version="v1.1"
    )
    assert replay.status_code == 409 and "replayed" in replay.text
    refusals = rounds.db.scalars(
        select(AuditEvent).where(AuditEvent.action == "round_update_rejected")
    ).all()
    assert len(refusals) == 7
    assert rounds.db.scalar(select(func.count()).select_from(Contribution)) == 3
    rounds.db.rollback()


def test_joining_rules(rounds: Rounds) -> None:
    opened = rounds.open(max_hospitals=3, min_rows=80)
    assert rounds.join(opened["id"], 0, rows=79).status_code == 422
    assert rounds.join(opened["id"], 0).status_code == 201
    assert rounds.join(opened["id"], 0).status_code == 409  # already in
    rounds.join(opened["id"], 1)
    rounds.join(opened["id"], 2)
    full = rounds.join(opened["id"], 3)
    assert full.status_code == 409  # full, or already training: either way, refused
    rounds.tick()
    assert rounds.round(opened["id"])["status"] == "training"
    second = rounds.client.post(
        "/api/v1/rounds", json={"disease": "heart"}, headers=rounds.admin.headers
    )
    assert second.status_code == 409 and "still training" in second.text


def test_admin_can_cancel_a_live_round(rounds: Rounds) -> None:
    opened = rounds.open()
    response = rounds.client.post(
        f"/api/v1/rounds/{opened['id']}/cancel",
        json={"reason": "wrong settings"},
        headers=rounds.admin.headers,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert response.json()["reason"] == "cancelled: wrong settings"
    again = rounds.client.post(
        f"/api/v1/rounds/{opened['id']}/cancel",
        json={"reason": "wrong settings"},
        headers=rounds.admin.headers,
    )
    assert again.status_code == 409


def test_robust_rules_refuse_secure_mode_and_bad_configs_are_explained(rounds: Rounds) -> None:
    response = rounds.client.post(
        "/api/v1/rounds",
        json={"disease": "heart", "strategy": "median", "secure": True},
        headers=rounds.admin.headers,
    )
    assert response.status_code == 422
    bad = rounds.client.post(
        "/api/v1/rounds",
        json={"disease": "heart", "min_hospitals": 5, "max_hospitals": 2},
        headers=rounds.admin.headers,
    )
    assert bad.status_code == 422 and "max_hospitals must be at least" in bad.text


def test_fedadam_state_carries_to_the_next_round_promoted_or_not(rounds: Rounds) -> None:
    round_id, size = _run_to_training(rounds, strategy="fedadam")
    for index in range(3):
        rounds.submit(round_id, index, _small_update(size, index))
    rounds.tick()
    for index in range(3):
        rounds.evaluate(round_id, index, 0.8, 0.8)
    rounds.tick()
    first = rounds.round(round_id)
    assert first["status"] == "rejected"  # same accuracy: not promoted, still on the line
    assert first["result_version"] == "v1.1"
    from medfed.server.db.tables import Round

    stored = rounds.db.get(Round, round_id)
    assert stored is not None and stored.strategy_state["rounds"] == 1
    rounds.db.rollback()
    second_id, _ = _run_to_training(rounds, strategy="fedadam")
    for index in range(3):
        rounds.submit(second_id, index, _small_update(size, index), base_version="v1.1")
    rounds.tick()
    stored = rounds.db.get(Round, second_id)
    assert stored is not None and stored.strategy_state["rounds"] == 2
    rounds.db.rollback()


def test_nodes_and_doctors_cannot_administer_rounds(rounds: Rounds) -> None:
    from tests.factories import make_logged_in

    doctor = make_logged_in(rounds.client, rounds.db, "doctor")
    assert (
        rounds.client.post(
            "/api/v1/rounds", json={"disease": "heart"}, headers=doctor.headers
        ).status_code
        == 403
    )
    assert (
        rounds.client.post(
            "/api/v1/rounds", json={"disease": "heart"}, headers=rounds.node_headers(0)
        ).status_code
        == 401
    )
