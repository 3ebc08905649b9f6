"""Internal names as a page shows them."""

from __future__ import annotations

from medfed.server.web import words


def test_internal_names_read_as_words() -> None:
    assert words.metric("roc_auc") == "ROC AUC"
    assert words.strategy("fedavg") == "FedAvg"
    assert words.actor("user:admin") == "admin"
    assert words.actor("node:3") == "node 3"
    assert words.actor("system") == "MedFed server"
    assert words.action("round_update_accepted") == "Round update accepted"
    assert words.disease("parkinsons") == "Parkinson's disease"
    assert words.details({"base_version": "v1.0", "secure": True, "change": 0.012345}) == [
        ("base version", "v1.0"),
        ("secure", "yes"),
        ("change", "0.01235"),
    ]
