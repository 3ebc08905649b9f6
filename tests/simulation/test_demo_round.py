"""The demo's last words: what ran, which version doctors get, and why."""

from __future__ import annotations

from medfed.simulation.demo_round import DEMO_SITES, explain_outcome


def _outcome(status: str, reason: str, served: str) -> dict[str, object]:
    round_ = {"number": 1, "status": status, "reason": reason, "base_version": "v1.0"}
    return {"round": round_, "served_version": served}


def test_a_deployed_round_names_the_version_doctors_now_get() -> None:
    lines = explain_outcome(_outcome("deployed", "accuracy held; deployed v1.1", "v1.1"))
    assert "Doctors now get heart v1.1" in lines[1]
    assert all(site.login in lines[-1] for site in DEMO_SITES)


def test_a_rejected_round_says_doctors_keep_the_old_version_and_why() -> None:
    reason = "Accuracy on federated evaluation fell from 0.836 to 0.822"
    lines = explain_outcome(_outcome("rejected", reason, "v1.0"))
    assert lines[1].startswith("Doctors keep getting heart v1.0")
    assert "accuracy on federated evaluation fell from 0.836 to 0.822" in lines[1]
    assert "public heart data" in lines[2]
