"""Shapes of the training-campaign endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from medfed.core.errors import InvalidInput
from medfed.fl.campaigns import MAX_ROUNDS, CampaignPlan
from medfed.fl.rounds import RoundConfig
from medfed.server.api.round_schemas import RoundConfigIn
from medfed.server.api.schemas import StrictIn


class CampaignStartIn(StrictIn):
    disease: str = Field(min_length=1, max_length=40)
    rounds: int = Field(10, ge=1, le=MAX_ROUNDS, description="Rounds that train, at most.")
    patience: int | None = Field(
        5,
        ge=1,
        le=MAX_ROUNDS,
        description="Stop after this many completed rounds without a new best on the training "
        "line; null: run every planned round.",
    )
    epsilon_budget: float | None = Field(
        None,
        gt=0,
        description="DP epsilon per hospital for the whole campaign: each node sets its noise "
        "so that the campaign's rounds compose to it under Renyi DP; null: no differential "
        "privacy (an administrator's choice).",
    )
    schedule: Literal["back_to_back", "every", "at"] = Field(
        "back_to_back",
        description="back_to_back: each round opens when the previous one ends; every: every "
        "every_seconds; at: at the given times.",
    )
    every_seconds: float | None = Field(None, gt=0)
    times: list[datetime] = Field(default_factory=list, max_length=MAX_ROUNDS)
    start_at: datetime | None = Field(None, description="Default: now.")
    retry_seconds: float = Field(
        60, gt=0, description="Wait after a round that found too few hospitals."
    )
    max_skips: int = Field(
        5, ge=1, le=100, description="Give up after this many such rounds in a row."
    )
    round: RoundConfigIn = Field(
        default_factory=lambda: RoundConfigIn(),
        description="Settings of every round (target_epsilon comes from epsilon_budget).",
    )

    def plan(self) -> CampaignPlan:
        return CampaignPlan(
            rounds=self.rounds,
            patience=self.patience,
            epsilon_budget=self.epsilon_budget,
            schedule=self.schedule,
            every_seconds=self.every_seconds,
            times=tuple(self.times),
            start_at=self.start_at,
            retry_seconds=self.retry_seconds,
            max_skips=self.max_skips,
        )

    def round_config(self) -> RoundConfig:
        if "target_epsilon" in self.round.model_fields_set:
            raise InvalidInput(
                "A campaign's rounds take their epsilon from epsilon_budget (which covers all "
                "of them); leave round.target_epsilon out.",
                field="round.target_epsilon",
            )
        # the budget's DP (or none) also picks the default learning rate (fl/privacy.py)
        return RoundConfig.from_dict(
            {**self.round.model_dump(), "target_epsilon": self.epsilon_budget}
        )


class CampaignCancelIn(StrictIn):
    reason: str = Field(min_length=5, max_length=500)


class CampaignRoundPublic(BaseModel):
    id: int
    number: int
    status: str
    trained: bool
    value: float | None = Field(description="The candidate's measure on the training line.")
    promoted: bool
    result_version: str | None
    opened_at: datetime
    closed_at: datetime | None


class CampaignProgressPublic(BaseModel):
    trained: int
    completed: int
    promotions: int
    skipped: int
    best: float | None
    since_best: int
    best_version: str | None = Field(
        description="The best checkpoint so far on the training line (by the campaign's "
        "measure on the hospitals' validation rows): the candidate an administrator may serve."
    )
    best_promoted: bool
    epsilon_budget: float | None = Field(
        description="Per hospital for the whole campaign; null: no differential privacy."
    )
    epsilon_spent: dict[str, float] = Field(
        description="Per hospital: what its node charged its ledger for this campaign's rounds "
        "(the increase of its Renyi-composed total)."
    )


class CampaignPublic(BaseModel):
    id: int
    disease: str
    status: str
    measure: str
    plan: dict[str, Any]
    round_config: dict[str, Any]
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    reason: str | None
    waiting_for: str | None
    next_check_at: datetime | None
    progress: CampaignProgressPublic
    rounds: list[CampaignRoundPublic]
