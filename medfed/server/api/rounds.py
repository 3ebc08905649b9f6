"""Federated rounds for administrators, and the hospitals' view of them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medfed.fl.rounds import RoundConfig
from medfed.server.api.round_schemas import (
    CancelIn,
    HospitalRoundPublic,
    LeaderboardChoiceIn,
    LeaderboardEntryPublic,
    MemberPublic,
    RoundOpenIn,
    RoundPublic,
)
from medfed.server.bounds import IdPath
from medfed.server.db.tables import Round
from medfed.server.deps import (
    CurrentUser,
    DbSession,
    OwnedHospital,
    ScienceUser,
    StaffOrAdmin,
    check_plain_mode,
)
from medfed.server.services import audit, participation, rounds

router = APIRouter(tags=["rounds"])


def round_public(round_: Round) -> RoundPublic:
    return RoundPublic(
        id=round_.id,
        disease=round_.disease,
        number=round_.number,
        status=round_.status,
        base_version=round_.base_version.version,
        result_version=round_.result_version.version if round_.result_version else None,
        config=round_.config,
        opened_by=round_.opened_by,
        opened_at=round_.opened_at,
        cohort_fixed_at=round_.cohort_fixed_at,
        candidate_at=round_.candidate_at,
        closed_at=round_.closed_at,
        reason=round_.reason,
        evaluation=round_.evaluation,
        members=[
            MemberPublic(
                hospital=m.hospital.name,
                status=m.status,
                rows=m.rows,
                joined_at=m.joined_at,
                submitted_at=m.submitted_at,
                evaluation=m.evaluation,
            )
            for m in round_.members
        ],
    )


@router.post("/rounds", response_model=RoundPublic, status_code=201)
def open_round(
    body: RoundOpenIn, admin: ScienceUser, db: DbSession, request: Request
) -> RoundPublic:
    """Open a round on the disease's active version; hospitals' nodes join while it is open."""
    check_plain_mode(admin, body.secure, db, request)
    config = RoundConfig.from_dict(body.model_dump(exclude={"disease"}))
    opened = rounds.open_round(db, body.disease, config, actor=audit.user_actor(admin.username))
    return round_public(opened)


@router.get("/rounds", response_model=list[RoundPublic])
def list_rounds(_: ScienceUser, db: DbSession, disease: str | None = None) -> list[RoundPublic]:
    return [round_public(r) for r in rounds.list_rounds(db, disease)]


@router.get("/rounds/{round_id}", response_model=RoundPublic)
def get_round(round_id: IdPath, _: ScienceUser, db: DbSession) -> RoundPublic:
    return round_public(rounds.get_round(db, round_id))


@router.post("/rounds/{round_id}/cancel", response_model=RoundPublic)
def cancel_round(
    round_id: IdPath, body: CancelIn, admin: ScienceUser, db: DbSession
) -> RoundPublic:
    """Stop a live round; its members are told the reason when they next ask."""
    cancelled = rounds.cancel(
        db, round_id, reason=body.reason, actor=audit.user_actor(admin.username)
    )
    return round_public(cancelled)


@router.get("/hospitals/{hospital_id}/rounds", response_model=list[HospitalRoundPublic])
def hospital_rounds(hospital: OwnedHospital, db: DbSession) -> list[HospitalRoundPublic]:
    """The hospital's contributions: outcome, change in global metrics, impact on its own data."""
    return [HospitalRoundPublic(**e) for e in participation.history(db, hospital.id)]


@router.put("/hospitals/{hospital_id}/leaderboard", status_code=204)
def leaderboard_choice(
    body: LeaderboardChoiceIn, hospital: OwnedHospital, user: StaffOrAdmin, db: DbSession
) -> None:
    """Whether the hospital is named on the leaderboard (its contributions count either way)."""
    participation.set_leaderboard_choice(
        db, hospital, body.show, actor=audit.user_actor(user.username)
    )


@router.get("/leaderboard", response_model=list[LeaderboardEntryPublic])
def leaderboard(_: CurrentUser, db: DbSession) -> list[LeaderboardEntryPublic]:
    return [LeaderboardEntryPublic(**e) for e in participation.leaderboard(db)]
