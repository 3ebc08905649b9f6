"""Shapes of the federated-round endpoints (administrators, nodes and hospital staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from medfed.core.errors import InvalidInput
from medfed.fl import promotion
from medfed.fl.promotion import PairedSums
from medfed.fl.rounds import MAX_VALIDATION_FRACTION
from medfed.server.api.schemas import StrictIn
from medfed.server.bounds import MAX_INT

Metrics = dict[str, float | int | None]


class RoundConfigIn(StrictIn):
    strategy: Literal["fedavg", "fedprox", "fedadam", "fedyogi", "median", "trimmed_mean"] = (
        "fedavg"
    )
    strategy_options: dict[str, float] = Field(
        default_factory=dict,
        description="e.g. server_learning_rate for fedadam/fedyogi, trim_fraction for trimmed_mean.",
    )
    min_hospitals: int = Field(3, ge=1, le=1000)
    max_hospitals: int = Field(50, ge=1, le=1000)
    min_rows: int = Field(200, ge=1, le=MAX_INT)
    local_epochs: int = Field(
        5, ge=1, le=100, description="Passes over the rows per round, when local_steps is null."
    )
    local_steps: int | None = Field(
        10,
        ge=1,
        le=10000,
        description="Optimiser steps every hospital takes per round, whatever its size (so a "
        "large hospital does not pull the average toward its own optimum); null: local_epochs.",
    )
    batch_size: int = Field(32, ge=1, le=4096)
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=10,
        description="The nodes' SGD step; null: 0.05, or 0.2 for an MLP under DP-SGD (its "
        "clipped gradients are much shorter than its own, so 0.05 would move it too little).",
    )
    proximal_mu: float = Field(0.0, ge=0, le=100, description="FedProx mu (fedprox only).")
    validation_fraction: float = Field(
        0.2,
        ge=0,
        le=MAX_VALIDATION_FRACTION,
        description="Share of each hospital's rows kept back as the promotion rule's evidence; "
        "less trains a better line but promotes less often.",
    )
    target_epsilon: float | None = Field(
        1.0, gt=0, description="DP-SGD epsilon per hospital and round; null: no DP."
    )
    norm_bound: float = Field(10.0, gt=0, description="L2 bound on one hospital's update.")
    join_seconds: float = Field(600, gt=0, description="Joining closes this long after opening.")
    grace_seconds: float = Field(10, ge=0, description="Wait after the minimum has joined.")
    submit_seconds: float = Field(1800, gt=0, description="Submission deadline after the cohort.")
    evaluate_seconds: float = Field(300, gt=0, description="Federated evaluation deadline.")
    metric: Literal["accuracy", "roc_auc", "brier"] = Field(
        "brier",
        description="The measure the promotion rule judges first (fl/promotion.py); the Brier "
        "score, a proper scoring rule, has the most power on small validation sets.",
    )
    tolerance: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Non-inferiority margin: a candidate no worse than this on the measure is "
        "promoted when it is better on the secondary measure.",
    )
    confidence: float = Field(
        promotion.DEFAULT_CONFIDENCE,
        ge=promotion.MIN_CONFIDENCE,
        le=promotion.MAX_CONFIDENCE,
        description="Two-sided level of the promotion rule's intervals; the rule reads their "
        "lower end, so 0.90 is a one-sided test at 5 % and 0.95 one at 2.5 %.",
    )
    secure: bool = Field(
        True,
        description="Secure aggregation (the server learns only the sum). False is plain mode: "
        "for debugging and the robust rules only. `protection` says the same and more.",
    )
    protection: Literal["secure_aggregation", "homomorphic", "plain"] | None = Field(
        None,
        description="What keeps each hospital's update from the server: pairwise masking "
        "(secure_aggregation, the default), CKKS homomorphic encryption under a key the "
        "hospitals make and hold (homomorphic), or nothing (plain, an administrator's opt-in). "
        "Given, it decides `secure`.",
    )
    homomorphic: bool = Field(False, description="Set by `protection`; false by default.")
    secagg_threshold: int | None = Field(
        None, ge=1, description="Survivors needed to unmask; default: more than half the cohort."
    )
    secagg_stage_seconds: float = Field(120, gt=0, description="Deadline of each key stage.")
    hospitals: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Only these hospitals (ids, see GET /api/v1/network) may join; null: any.",
    )

    @model_validator(mode="after")
    def _protection_decides(self) -> RoundConfigIn:
        if self.protection is not None:
            self.secure = self.protection != "plain"
            self.homomorphic = self.protection == "homomorphic"
        return self


class RoundOpenIn(RoundConfigIn):
    disease: str = Field(min_length=1, max_length=40)


class CancelIn(StrictIn):
    reason: str = Field(min_length=5, max_length=500)


class MemberPublic(BaseModel):
    hospital: str
    status: str
    rows: int
    joined_at: datetime
    submitted_at: datetime | None
    evaluation: dict[str, Any] | None


class RoundPublic(BaseModel):
    id: int
    disease: str
    number: int
    status: str
    base_version: str
    result_version: str | None
    config: dict[str, Any]
    opened_by: str
    opened_at: datetime
    cohort_fixed_at: datetime | None
    candidate_at: datetime | None
    closed_at: datetime | None
    reason: str | None
    evaluation: dict[str, Any]
    members: list[MemberPublic]


class NodeRoundPublic(BaseModel):
    """What a node needs: the round, its training settings, and this hospital's place in it."""

    id: int
    disease: str
    number: int
    status: str
    base_version: str
    result_version: str | None
    reason: str | None
    training: dict[str, Any]
    min_rows: int
    my_status: str | None
    members: int
    stage: str | None = Field(
        None, description="The secure-aggregation stage while a secure round trains."
    )
    base_artifact: str | None = Field(
        None,
        description="SHA-256 of the base model's artifact: a node that holds it (the previous "
        "round's candidate) need not download it.",
    )
    candidate_artifact: str | None = Field(
        None, description="SHA-256 of the candidate's artifact, once the round has one."
    )
    secagg: dict[str, Any] | None = Field(
        None,
        description="While a secure round this hospital is in trains: what GET "
        "/nodes/rounds/{id}/secagg answers (the stage and what this hospital needs for it), "
        "so that a node acting on the listing needs no second request.",
    )


class JoinIn(StrictIn):
    rows: int = Field(ge=1, le=MAX_INT, description="Training rows this hospital will use.")


class UpdateMetaIn(StrictIn):
    """An update's fields: the JSON body without `update`, or a binary frame's header."""

    job_ref: str = Field(min_length=1, max_length=64)
    base_version: str = Field(min_length=1, max_length=20)
    rows: int = Field(ge=1, le=MAX_INT)
    epsilon: float | None = Field(default=None, ge=0)
    delta: float | None = Field(default=None, ge=0, le=1)
    metrics: dict[str, Metrics] = Field(default_factory=dict)


class UpdateIn(UpdateMetaIn):
    update: str = Field(description="Parameter delta, little-endian float32, base64.")


class PairedSumsIn(StrictIn):
    """n, Σd and Σd² of the per-row differences candidate vs served (see fl/promotion.py)."""

    n: int = Field(ge=0, le=MAX_INT)
    total: float
    squares: float = Field(ge=0)


class EvaluationIn(StrictIn):
    rows: int = Field(
        ge=0,
        le=MAX_INT,
        description="Rows of the hospital's local validation split (0: a hospital so small "
        "that it kept none back; it has evaluated, and its report weighs nothing).",
    )
    base: Metrics = Field(description="Metrics of the version compared with: the served one.")
    candidate: Metrics
    paired: dict[Literal["accuracy", "brier"], PairedSumsIn] | None = Field(
        None,
        description="Sums of per-row differences (never a row): what the promotion rule pools.",
    )

    def paired_sums(self) -> dict[str, PairedSums] | None:
        if self.paired is None:
            return None
        try:
            sums = {str(k): PairedSums.from_dict(v.model_dump()) for k, v in self.paired.items()}
        except ValueError as problem:
            raise InvalidInput(f"paired: {problem}", field="paired") from None
        if any(s.n != self.rows for s in sums.values()):
            raise InvalidInput(
                "paired: each measure's n must equal rows (the same validation rows)",
                field="paired",
            )
        return sums


class SecaggMessageIn(BaseModel):
    """One stage's message; its keys depend on the stage (see fl/secagg/constants.py)."""

    model_config = {"extra": "allow"}


class MemberStatusPublic(BaseModel):
    round_id: int
    status: str


class SecaggJoinPublic(BaseModel):
    """What a hospital needs to advertise its keys as soon as it has joined a secure round."""

    round_ref: str
    client_id: int


class JoinPublic(MemberStatusPublic):
    secagg: SecaggJoinPublic | None = Field(
        None,
        description="For a secure round: send the advertise_keys message now, while the round "
        "is open; when every member of the cohort has, the key-sharing stage opens with it.",
    )


class HospitalRoundPublic(BaseModel):
    """One round a hospital took part in, and what came of it."""

    round_id: int
    disease: str
    number: int
    round_status: str
    my_status: str
    rows: int
    result_version: str | None
    reason: str | None
    global_change: dict[str, float | None]
    local_impact: dict[str, float | None]
    closed_at: datetime | None
    in_training_line: bool = Field(
        description="This hospital's update went into the round's checkpoint on the training line."
    )
    reached_doctors: str | None = Field(
        description="The promoted version that carries it to doctors (this round's or a later "
        "checkpoint's); null: not yet."
    )


class LeaderboardEntryPublic(BaseModel):
    hospital: str
    rounds: int
    deployed_rounds: int
    rows: int


class LeaderboardChoiceIn(StrictIn):
    show: bool = Field(description="False: appear as 'A hospital that opted out of naming'.")
    hospitals: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Only these hospitals (ids, see GET /api/v1/network) may join; null: any.",
    )
