"""Shapes of the federated-analytics endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from medfed.analytics.query import KINDS, MAX_EPSILON, Query
from medfed.server.services.analytics import MIN_HOSPITALS, Asking


class AnalyticsAskIn(BaseModel):
    model_config = {"extra": "forbid"}

    disease: str = Field(min_length=1, max_length=40)
    kind: Literal["count", "prevalence", "mean", "histogram", "quantiles", "missing"] = Field(
        description=f"One of {', '.join(KINDS)} (mean also gives the variance)."
    )
    feature: str | None = Field(
        None,
        max_length=80,
        description="For mean, histogram, quantiles (a number feature) and missing (any feature).",
    )
    bins: list[float] = Field(
        default_factory=list, max_length=201, description="Histogram or quantile bin edges, rising."
    )
    quantiles: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75], max_length=20)
    breakdown: str | None = Field(
        None,
        max_length=80,
        description="A category or yes/no feature, or a number feature with bands (e.g. age).",
    )
    bands: list[float] = Field(default_factory=list, max_length=201)
    epsilon: float = Field(1.0, gt=0, le=MAX_EPSILON, description="Each hospital's spend.")
    delta: float = Field(1e-6, ge=0, lt=1e-3)
    mechanism: Literal["gaussian", "laplace"] = "gaussian"
    per_site: bool = Field(
        False,
        description="Show each hospital's figures by name (only "
        "hospitals whose policy allows it answer) instead of one secure "
        "network-wide sum.",
    )
    min_hospitals: int = Field(MIN_HOSPITALS, ge=MIN_HOSPITALS, le=1000)
    hospitals: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Ask only these hospitals (by name); default: every hospital with an "
        "active node.",
    )
    collect_seconds: float = Field(
        120.0, ge=1, le=7 * 24 * 3600, description="How long hospitals have to agree or decline."
    )
    stage_seconds: float = Field(
        60.0, ge=1, le=24 * 3600, description="Deadline of each secure-aggregation stage."
    )

    def asking(self) -> Asking:
        query = Query(
            disease=self.disease,
            kind=self.kind,
            feature=self.feature,
            bins=tuple(self.bins),
            quantiles=tuple(self.quantiles),
            breakdown=self.breakdown,
            bands=tuple(self.bands),
            epsilon=self.epsilon,
            delta=self.delta,
            mechanism=self.mechanism,
        )
        return Asking(
            query,
            self.per_site,
            self.min_hospitals,
            self.collect_seconds,
            self.stage_seconds,
            tuple(self.hospitals),
        )


class AnalyticsMemberPublic(BaseModel):
    hospital: str
    status: str
    reason: str | None
    epsilon: float | None
    delta: float | None


class AnalyticsQueryPublic(BaseModel):
    id: int
    disease: str
    kind: str
    query: dict[str, Any]
    per_site: bool
    min_hospitals: int
    status: str
    stage: str | None
    reason: str | None
    asked_by: str
    created_at: datetime
    closed_at: datetime | None
    hospitals: list[AnalyticsMemberPublic]
    result: dict[str, Any] | None = Field(
        None,
        description="Once released: the noisy figures per cell (network-wide, and per "
        "site for a per-site query), each with its 95 % DP error; suppressed cells carry only "
        "their key.",
    )


class NodeAnalyticsPublic(BaseModel):
    id: int
    disease: str
    query: dict[str, Any]
    per_site: bool
    status: str
    my_status: str
    share: float | None = None
    secagg: dict[str, Any] | None = None


class DeclineIn(BaseModel):
    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=1, max_length=500)


class SiteAnswerIn(BaseModel):
    model_config = {"extra": "forbid"}

    answer: str = Field(
        min_length=1,
        max_length=200_000,
        description="The noisy figures, base64 little-endian float64.",
    )
    epsilon: float = Field(gt=0, le=MAX_EPSILON)
    delta: float = Field(ge=0, lt=1e-3)
    min_cell: int = Field(10, ge=10, le=1_000_000)


class AnalyticsStatusPublic(BaseModel):
    query_id: int
    status: str


class StandardiseIn(BaseModel):
    model_config = {"extra": "forbid"}

    disease: str = Field(min_length=1, max_length=40)
    query_ids: list[int] = Field(
        min_length=1,
        max_length=100,
        description="Released network-wide mean queries (no breakdown), one per number feature.",
    )


class StandardisedPublic(BaseModel):
    disease: str
    version: str
    stage: str
    base: str
    centres: dict[str, list[float]]
