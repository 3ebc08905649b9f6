"""Buffered contributions per disease: an administrator's opt-in, and what is waiting."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from medfed.core.errors import InvalidInput
from medfed.fl import promotion
from medfed.fl.buffered import BufferSettings
from medfed.server.api.schemas import StrictIn
from medfed.server.deps import AdminUser, DbSession, ScienceUser
from medfed.server.services import audit, buffered

router = APIRouter(tags=["buffered contributions"])


class BufferIn(StrictIn):
    size: int = Field(3, ge=1, le=1000, description="Contributions that make one checkpoint.")
    max_staleness: int = Field(
        5, ge=0, le=1000, description="Checkpoints behind the training line's head, at most."
    )
    server_learning_rate: float = Field(1.0, gt=0, le=10)
    norm_bound: float = Field(10.0, gt=0, description="L2 bound on one update.")
    require_dp: bool = Field(True, description="Refuse updates trained without DP.")
    metric: Literal["accuracy", "roc_auc", "brier"] = "brier"
    tolerance: float = Field(0.01, ge=0, le=1)
    confidence: float = Field(
        promotion.DEFAULT_CONFIDENCE,
        ge=promotion.MIN_CONFIDENCE,
        le=promotion.MAX_CONFIDENCE,
        description="Two-sided level of the promotion rule's interval (0.90: one-sided 5 %).",
    )
    plain_mode_acknowledged: bool = Field(
        description="Must be true: buffered updates are not securely aggregated; the server sees "
        "each one (protected by DP-SGD at its node)."
    )


class BufferPublic(BaseModel):
    disease: str
    settings: dict[str, float | int | bool | str]
    pending: int
    enabled_by: str


def _public(state: buffered.BufferState) -> BufferPublic:
    return BufferPublic(
        disease=state.disease,
        settings=state.settings.as_dict(),
        pending=state.pending,
        enabled_by=state.enabled_by,
    )


@router.get("/buffers", response_model=list[BufferPublic])
def list_buffers(_: ScienceUser, db: DbSession) -> list[BufferPublic]:
    """Diseases whose buffered contributions are on; any other disease refuses them."""
    return [_public(state) for state in buffered.states(db)]


@router.put("/buffers/{disease}", response_model=BufferPublic)
def enable_buffer(disease: str, body: BufferIn, admin: AdminUser, db: DbSession) -> BufferPublic:
    """Switch buffered contributions on (or change their settings) for one disease."""
    if not body.plain_mode_acknowledged:
        raise InvalidInput(
            "Buffered updates are not securely aggregated (their senders are not online "
            "together): the server sees each one. Set plain_mode_acknowledged to true to accept.",
            field="plain_mode_acknowledged",
        )
    settings = BufferSettings.from_dict(body.model_dump(exclude={"plain_mode_acknowledged"}))
    buffer = buffered.enable(db, disease, settings, actor=audit.user_actor(admin.username))
    [state] = [s for s in buffered.states(db) if s.disease == buffer.disease]
    return _public(state)


@router.delete("/buffers/{disease}", status_code=204)
def disable_buffer(disease: str, admin: AdminUser, db: DbSession) -> None:
    """Switch them off; contributions still waiting are discarded (never used)."""
    buffered.disable(db, disease, actor=audit.user_actor(admin.username))
