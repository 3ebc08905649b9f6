"""The demo's last words: what ran, what the training line did, which version doctors get, and why."""

from __future__ import annotations

from typing import Any

from medfed.simulation.demo_round import DEMO_SITES, explain_outcome


def _round(number: int, status: str, words: str) -> dict[str, Any]:
    verdict = "better" if status == "deployed" else "the evidence is not enough"
    return {
        "id": number,
        "number": number,
        "status": status,
        "reason": "the round's own words",
        "base_version": f"v1.{number - 1}",
        "result_version": f"v1.{number}",
        "evaluation": {"promotion": {"verdict": verdict, "words": words}},
    }


def _outcome(rounds: list[dict[str, Any]], served: str) -> dict[str, Any]:
    campaign = {
        "id": 1,
        "status": "finished",
        "reason": f"all {len(rounds)} planned rounds trained",
        "progress": {"epsilon_spent": {"St Mary": 2.9}},
        "rounds": [{"id": r["id"], "value": 0.80 + r["number"] / 100} for r in rounds],
    }
    return {"campaign": campaign, "rounds": rounds, "served_version": served}


def test_a_promotion_names_the_version_doctors_now_get_and_why() -> None:
    words = "accuracy +0.040, 95 % CI [+0.010, +0.070], 155 rows"
    rounds = [_round(1, "rejected", "too close"), _round(2, "deployed", words)]
    lines = explain_outcome(_outcome(rounds, "v1.2"))
    assert (
        "A campaign of 2 rounds" in lines[0] and "the most any hospital spent is 2.90" in lines[0]
    )
    assert "v1.0 → v1.1 (0.810), v1.2 (0.820)" in lines[1]
    assert "Doctors now get heart v1.2: v1.2 was promoted in round 2" in lines[2]
    assert "same patients, better: accuracy +0.040, 95 % CI" in lines[2]
    assert all(site.login in lines[-1] for site in DEMO_SITES)


def test_no_promotion_says_doctors_keep_the_old_version_and_why() -> None:
    words = "accuracy -0.006, 95 % CI [-0.030, +0.018]"
    rounds = [_round(1, "rejected", words), _round(2, "rejected", words)]
    lines = explain_outcome(_outcome(rounds, "v1.0"))
    assert lines[2].startswith("Doctors keep getting heart v1.0: no round's model was promoted")
    assert "the evidence is not enough: accuracy -0.006" in lines[2]
    assert "public heart data" in lines[3]


def test_a_campaign_without_a_completed_round_says_so() -> None:
    failed = {**_round(1, "failed", ""), "result_version": None}
    lines = explain_outcome(_outcome([failed], "v1.0"))
    assert "no round completed" in lines[1] and "keep getting heart v1.0" in lines[1]
