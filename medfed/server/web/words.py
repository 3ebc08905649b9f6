"""What internal names read as on a page: metrics, strategies, actors, audit actions, diseases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment

from medfed.core.catalog import load_catalog
from medfed.fl.privacy import DP_LEARNING_RATE, LEARNING_RATE

# the learning-rate field left blank (fl/privacy.py: default_learning_rate)
LEARNING_RATE_HINT = f"{LEARNING_RATE:g}, or {DP_LEARNING_RATE:g} for an MLP under DP"

METRICS = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "brier": "Brier score",
    "f1": "F1",
    "rows": "Rows",
    "positives": "Positives",
}
STRATEGIES = {
    "fedavg": "FedAvg",
    "fedprox": "FedProx",
    "fedadam": "FedAdam",
    "fedyogi": "FedYogi",
    "median": "Coordinate median",
    "trimmed_mean": "Trimmed mean",
}
ACTOR_KINDS = {"user": "user", "node": "node", "cli": "command line", "campaign": "campaign"}
SPECIAL_ACTORS = {"system": "MedFed server", "anonymous": "not signed in"}


ROUND_OUTCOMES = {
    "deployed": "Promoted",
    "rejected": "Trained, not promoted",
    "failed": "Failed",
}


def outcome(status: str) -> str:
    """A finished round in words: 'rejected' rounds still advanced the training line."""
    return ROUND_OUTCOMES.get(status, status.replace("_", " ").capitalize())


def metric(name: str) -> str:
    return METRICS.get(name, name.replace("_", " ").capitalize())


def strategy(name: str) -> str:
    return STRATEGIES.get(name, name)


def actor(value: str) -> str:
    """'user:admin' -> 'admin', 'node:3' -> 'node 3', 'system' -> 'MedFed server'."""
    if value in SPECIAL_ACTORS:
        return SPECIAL_ACTORS[value]
    kind, _, name = value.partition(":")
    if kind == "user":
        return name
    return f"{ACTOR_KINDS.get(kind, kind)} {name}".strip() if name else value


def action(name: str) -> str:
    """'round_update_accepted' -> 'Round update accepted'."""
    return name.replace("_", " ").replace(".", " ").capitalize()


def disease(disease_id: str) -> str:
    spec = load_catalog().get(disease_id)
    return spec.title if spec else disease_id


def details(values: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """An audit event's details as (label, text) pairs a person can read."""
    pairs = []
    for key, value in (values or {}).items():
        pairs.append((key.replace("_", " "), _text(value)))
    return pairs


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k.replace('_', ' ')} {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def install(environment: Environment) -> None:
    environment.filters.update(
        metric=metric,
        strategy=strategy,
        actor=actor,
        action=action,
        disease=disease,
        details=details,
        outcome=outcome,
    )
