"""The demo's last words: what ran, which version doctors get, and why."""

from __future__ import annotations

from medfed.simulation.demo_round import DEMO_SITES, explain_outcome


def _outcome(status: str, verdict: str, words: str, served: str) -> dict[str, object]:
    round_ = {
        "number": 1,
        "status": status,
        "reason": "the round's own words",
        "base_version": "v1.0",
        "result_version": "v1.1",
        "evaluation": {"promotion": {"verdict": verdict, "words": words}},
    }
    return {"round": round_, "served_version": served}


def test_a_deployed_round_names_the_version_doctors_now_get() -> None:
    words = "accuracy +0.040, 95 % CI [+0.010, +0.070], 155 rows"
    lines = explain_outcome(_outcome("deployed", "better", words, "v1.1"))
    assert "Doctors now get heart v1.1" in lines[1]
    assert "same patients, better: accuracy +0.040, 95 % CI" in lines[1]
    assert all(site.login in lines[-1] for site in DEMO_SITES)


def test_a_rejected_round_says_doctors_keep_the_old_version_and_why() -> None:
    words = "accuracy -0.006, 95 % CI [-0.030, +0.018]"
    lines = explain_outcome(_outcome("rejected", "the evidence is not enough", words, "v1.0"))
    assert lines[1].startswith("Doctors keep getting heart v1.0")
    assert "v1.1, joined the training line" in lines[1]
    assert "not promoted: the evidence is not enough: accuracy -0.006" in lines[1]
    assert "public heart data" in lines[2]
