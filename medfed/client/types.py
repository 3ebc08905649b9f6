"""What the client returns: the answer's fields it reads, typed; the whole answer as `raw`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Self


def _fields(cls: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The answer's fields a type reads, and the whole answer as `raw`."""
    return {**{name: body.get(name) for name in answer_fields(cls)}, "raw": body}


class _Answer:
    @classmethod
    def of(cls, body: dict[str, Any]) -> Self:
        """The answer's fields this type reads, and the whole answer as `raw`."""
        return cls(**_fields(cls, body))


def answer_fields(cls: type) -> list[str]:
    """The answer fields a type reads (the drift test checks them against the API)."""
    return [f.name for f in fields(cls) if f.name != "raw"]


@dataclass(frozen=True)
class Prediction(_Answer):
    disease: str
    model_version: str
    probability: float
    risk_band: str
    risk_wording: str
    predicted_label: str
    confidence: float
    prediction_id: int | None
    class_probabilities: dict[str, float] | None
    explanation: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def top_factors(self) -> list[str]:
        """The main reasons, in words ("Plasma glucose 199 mg/dL (above typical) raises …")."""
        return [f["text"] for f in (self.explanation or {}).get("top_factors", [])]


@dataclass(frozen=True)
class ModelSummary(_Answer):
    disease: str
    title: str
    active_version: str | None
    accuracy: float | None
    roc_auc: float | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Round(_Answer):
    id: int
    disease: str
    status: str
    base_version: str
    result_version: str | None
    reason: str | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("deployed", "rejected", "failed", "cancelled")


@dataclass(frozen=True)
class Campaign(_Answer):
    id: int
    disease: str
    status: str
    reason: str | None
    waiting_for: str | None
    raw: dict[str, Any] = field(repr=False)
