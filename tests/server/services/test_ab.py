"""A/B deployment: stable assignment by user id, arms recorded on predictions, outcomes per arm."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from medfed.server.services import ab, registry
from tests.factories import LoggedIn, make_logged_in
from tests.server.api.test_models import typical_patient


@given(st.integers(1, 10**9), st.floats(0.01, 0.98), st.floats(0.0, 0.02))
def test_assignment_is_stable_and_raising_the_share_only_adds_challengers(
    user_id: int, share: float, extra: float
) -> None:
    arm = ab.assign_arm(user_id, "heart", share)
    assert arm == ab.assign_arm(user_id, "heart", share)
    if arm == ab.CHALLENGER:
        assert ab.assign_arm(user_id, "heart", min(share + extra, 0.99)) == ab.CHALLENGER


def test_assignment_share_is_close_to_the_requested_share() -> None:
    arms = [ab.assign_arm(i, "heart", 0.3) for i in range(1, 20001)]
    assert abs(arms.count(ab.CHALLENGER) / len(arms) - 0.3) < 0.02


def _second_version(client: TestClient, db: Session) -> str:
    state = client.app.state  # type: ignore[attr-defined]
    base = registry.active_version(db, "heart")
    model = state.model_cache.get(base)
    version = registry.register_version(
        db,
        state.artifact_store,
        model.with_parameters(model.parameters * 0.5),
        metrics=base.metrics,
        card=base.card,
        provenance={"source": "test"},
        contributing_hospitals=0,
        activate=False,
        actor="test",
    )
    db.commit()
    return version.version


def test_challenger_serves_its_share_and_arms_are_recorded(
    trained_client: TestClient, trained_db: Session
) -> None:
    admin = make_logged_in(trained_client, trained_db, "admin")
    challenger = _second_version(trained_client, trained_db)
    response = trained_client.put(
        "/api/v1/models/heart/challenger",
        json={"version": challenger, "share": 0.5, "reason": "try the new weights"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    served: list[tuple[LoggedIn, dict[str, Any]]] = []
    for _ in range(12):
        doctor = make_logged_in(trained_client, trained_db, "doctor")
        trained_db.rollback()
        answers = [
            trained_client.post(
                "/api/v1/models/heart/predict",
                json={"patient": typical_patient("heart"), "explain": False},
                headers=doctor.headers,
            ).json()
            for _ in range(2)
        ]
        expected = ab.assign_arm(doctor.user.id, "heart", 0.5)
        assert {a["arm"] for a in answers} == {expected}  # the same doctor, the same arm
        assert {a["model_version"] for a in answers} == {
            challenger if expected == ab.CHALLENGER else "v1.0"
        }
        served.append((doctor, answers[0]))
    assert {a["arm"] for a in (a for _, a in served)} == {ab.ACTIVE, ab.CHALLENGER}
    # Doctors record outcomes; the arms view counts them per version and arm.
    for doctor, answer in served:
        recorded = trained_client.post(
            f"/api/v1/predictions/{answer['prediction_id']}/outcome",
            json={"outcome": 1},
            headers=doctor.headers,
        )
        assert recorded.status_code == 200 and recorded.json()["outcome"] == 1
    arms = trained_client.get("/api/v1/models/heart/arms", headers=admin.headers).json()
    assert arms["challenger"]["version"] == challenger
    by_arm = {row["arm"]: row for row in arms["usage"]}
    challengers = sum(a["arm"] == ab.CHALLENGER for a in (a for _, a in served))
    assert by_arm[ab.CHALLENGER]["predictions"] == 2 * challengers
    assert by_arm[ab.CHALLENGER]["outcomes"] == challengers
    positives = sum(
        a["probability"] >= 0.5 for a in (a for _, a in served) if a["arm"] == ab.CHALLENGER
    )
    assert by_arm[ab.CHALLENGER]["outcome_accuracy"] == round(positives / challengers, 4)


def test_outcomes_belong_to_the_doctor_who_predicted(
    trained_client: TestClient, trained_db: Session
) -> None:
    first = make_logged_in(trained_client, trained_db, "doctor")
    second = make_logged_in(trained_client, trained_db, "doctor")
    trained_db.rollback()
    answer = trained_client.post(
        "/api/v1/models/heart/predict",
        json={"patient": typical_patient("heart")},
        headers=first.headers,
    ).json()
    stolen = trained_client.post(
        f"/api/v1/predictions/{answer['prediction_id']}/outcome",
        json={"outcome": 0},
        headers=second.headers,
    )
    assert stolen.status_code == 404
    bad = trained_client.post(
        f"/api/v1/predictions/{answer['prediction_id']}/outcome",
        json={"outcome": 2},
        headers=first.headers,
    )
    assert bad.status_code == 422
    history = trained_client.get("/api/v1/predictions", headers=first.headers).json()
    assert [h["id"] for h in history] == [answer["prediction_id"]]
    assert history[0]["inputs"] is None  # not opted in


def test_challenger_rules_and_promotion_by_rollback(
    trained_client: TestClient, trained_db: Session
) -> None:
    admin = make_logged_in(trained_client, trained_db, "admin")
    doctor = make_logged_in(trained_client, trained_db, "doctor")
    challenger = _second_version(trained_client, trained_db)
    put = "/api/v1/models/heart/challenger"
    active = trained_client.put(
        put,
        json={"version": "v1.0", "share": 0.2, "reason": "same as active"},
        headers=admin.headers,
    )
    assert active.status_code == 409
    assert (
        trained_client.put(
            put,
            json={"version": challenger, "share": 1.0, "reason": "everyone"},
            headers=admin.headers,
        ).status_code
        == 422
    )
    assert (
        trained_client.put(
            put,
            json={"version": challenger, "share": 0.2, "reason": "a try"},
            headers=doctor.headers,
        ).status_code
        == 403
    )
    assert (
        trained_client.put(
            put,
            json={"version": challenger, "share": 0.2, "reason": "a try"},
            headers=admin.headers,
        ).status_code
        == 200
    )
    # Making the challenger the active version ends the A/B test.
    promoted = trained_client.post(
        "/api/v1/models/heart/active",
        json={"version": challenger, "reason": "the challenger won"},
        headers=admin.headers,
    )
    assert promoted.status_code == 200
    arms = trained_client.get("/api/v1/models/heart/arms", headers=admin.headers).json()
    assert arms["challenger"] is None and arms["active_version"] == challenger
    ended = trained_client.delete(f"{put}?reason=nothing+to+end", headers=admin.headers)
    assert ended.status_code == 404
