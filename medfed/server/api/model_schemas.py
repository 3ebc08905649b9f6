"""Shapes of the model marketplace and prediction endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from medfed.server.api.schemas import StrictIn


class CategoryPublic(BaseModel):
    code: str
    label: str


class FeaturePublic(BaseModel):
    name: str
    label: str
    type: str
    unit: str | None
    range: tuple[float, float] | None
    required: bool
    help: str
    categories: list[CategoryPublic]


class VersionPublic(BaseModel):
    version: str
    is_active: bool
    status: str
    state: str = Field(
        description="in service, promoted (may be served) or trained (a "
        "checkpoint on the training line that doctors have not been given)"
    )
    architecture: str
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    contributing_hospitals: int
    created_at: datetime


class ModelSummaryPublic(BaseModel):
    disease: str
    title: str
    description: str
    active_version: str | None
    accuracy: float | None
    roc_auc: float | None
    contributing_hospitals: int
    last_updated: datetime | None
    outcome_kind: Literal["binary", "categorical"] = Field(
        description="binary: one probability (of the positive label); categorical: one per class."
    )
    classes: list[str] = Field(
        description="The outcome's labels in rising order of risk (binary: negative, positive)."
    )


class ModelDetailPublic(ModelSummaryPublic):
    positive_label: str
    negative_label: str
    features: list[FeaturePublic]
    versions: list[VersionPublic]
    model_card: dict[str, Any] | None


class PredictIn(StrictIn):
    patient: dict[str, Any] = Field(
        description="Feature name to value, as listed by GET /models/{disease}."
    )
    store_inputs: bool = Field(
        False, description="Keep the inputs with the prediction record (opt-in)."
    )
    explain: bool = Field(True, description="Compute SHAP values and the top factors.")


class FactorPublic(BaseModel):
    feature: str
    label: str
    value: Any
    shap: float
    text: str
    imputed: bool


class ExplanationPublic(BaseModel):
    method: str
    output: str = "logit"
    base_value: float
    logit: float
    contributions: list[FactorPublic]
    top_factors: list[FactorPublic]
    per_class: dict[str, list[float]] | None = Field(
        default=None,
        description="Categorical outcomes: each class's logit explained, one SHAP value per "
        "feature in `contributions` order; the factors above explain the predicted class.",
    )


class PredictionPublic(BaseModel):
    prediction_id: int | None
    disease: str
    model_version: str
    arm: str = Field(description="'active', or 'challenger' when an A/B test served this doctor.")
    probability: float
    risk_band: str
    risk_wording: str
    predicted_label: str
    confidence: float
    confidence_level: str
    imputed: list[str]
    warnings: list[str]
    explanation: ExplanationPublic | None
    class_probabilities: dict[str, float] | None = Field(
        default=None,
        description="Categorical outcomes: every class's probability (they sum to 1); "
        "`probability` is then the predicted class's.",
    )


class BatchPredictionPublic(BaseModel):
    count: int
    predictions: list[PredictionPublic]


class ActivateIn(StrictIn):
    version: str = Field(min_length=1, max_length=20, description="For example v1.0.")
    reason: str = Field(
        min_length=5, max_length=500, description="Why; recorded in the audit trail."
    )


class ChallengerIn(StrictIn):
    version: str = Field(
        min_length=1, max_length=20, description="The deployed version to try, e.g. v1.1."
    )
    share: float = Field(gt=0, lt=1, description="Share of doctors it serves, e.g. 0.2.")
    reason: str = Field(
        min_length=5, max_length=500, description="Why; recorded in the audit trail."
    )


class ChallengerPublic(BaseModel):
    disease: str
    version: str
    share: float
    started_at: datetime
    started_by: str


class ArmUsagePublic(BaseModel):
    version: str
    arm: str
    predictions: int
    outcomes: int
    outcome_accuracy: float | None


class ArmsPublic(BaseModel):
    disease: str
    active_version: str
    challenger: ChallengerPublic | None
    usage: list[ArmUsagePublic]


class OutcomeIn(StrictIn):
    outcome: int = Field(
        ge=0,
        le=20,
        strict=True,
        description="Binary outcomes: 1 disease confirmed, 0 ruled out. Categorical outcomes: "
        "the actual class's index in the model's `classes`.",
    )


class PredictionRecordPublic(BaseModel):
    id: int
    disease: str
    model_version: str
    arm: str
    probability: float
    risk_band: str
    created_at: datetime
    inputs: dict[str, Any] | None
    outcome: int | None
