"""Hospitals, their enrollment tokens and their nodes."""

from __future__ import annotations

from fastapi import APIRouter

from medfed.server.api.schemas import (
    EnrollmentTokenPublic,
    HospitalCreatedPublic,
    HospitalIn,
    HospitalPublic,
    NodePublic,
)
from medfed.server.bounds import IdPath
from medfed.server.deps import AdminUser, DbSession, OwnedHospital, SettingsDep, StaffOrAdmin
from medfed.server.services import accounts, audit, contributions, enrollment
from medfed.server.services.enrollment import IssuedEnrollmentToken

router = APIRouter(prefix="/hospitals", tags=["hospitals"])


def _token_public(issued: IssuedEnrollmentToken) -> EnrollmentTokenPublic:
    return EnrollmentTokenPublic(
        hospital_id=issued.hospital.id,
        enrollment_token=issued.token,
        expires_at=issued.expires_at_iso,
        instructions=f"On the hospital's node: medfed node enroll --server URL --token {issued.token}",
    )


@router.get("", response_model=list[HospitalPublic])
def list_hospitals(user: StaffOrAdmin, db: DbSession) -> list[HospitalPublic]:
    only = None if user.role == "admin" else user.hospital_id
    return [HospitalPublic.model_validate(h) for h in accounts.list_hospitals(db, only_id=only)]


@router.post("", response_model=HospitalCreatedPublic, status_code=201)
def create_hospital(
    body: HospitalIn, admin: AdminUser, db: DbSession, settings: SettingsDep
) -> HospitalCreatedPublic:
    actor = audit.user_actor(admin.username)
    hospital = accounts.create_hospital(db, body.name, actor=actor)
    issued = enrollment.create_enrollment_token(
        db, hospital, ttl_hours=settings.enrollment_token_ttl_hours, actor=actor
    )
    return HospitalCreatedPublic(
        hospital=HospitalPublic.model_validate(hospital), enrollment=_token_public(issued)
    )


@router.get("/{hospital_id}", response_model=HospitalPublic)
def get_hospital(hospital: OwnedHospital) -> HospitalPublic:
    return HospitalPublic.model_validate(hospital)


@router.get("/{hospital_id}/nodes", response_model=list[NodePublic])
def list_nodes(hospital: OwnedHospital, db: DbSession) -> list[NodePublic]:
    return [NodePublic.model_validate(node) for node in accounts.list_nodes(db, hospital.id)]


@router.post(
    "/{hospital_id}/enrollment-tokens", response_model=EnrollmentTokenPublic, status_code=201
)
def create_enrollment_token(
    hospital_id: IdPath, admin: AdminUser, db: DbSession, settings: SettingsDep
) -> EnrollmentTokenPublic:
    hospital = accounts.get_hospital(db, hospital_id)
    issued = enrollment.create_enrollment_token(
        db,
        hospital,
        ttl_hours=settings.enrollment_token_ttl_hours,
        actor=audit.user_actor(admin.username),
    )
    return _token_public(issued)


@router.get("/{hospital_id}/privacy")
def privacy_spend(hospital: OwnedHospital, db: DbSession) -> dict[str, dict[str, float]]:
    """Epsilon and delta this hospital's nodes reported, per disease (basic composition)."""
    return contributions.spend_by_disease(db, hospital.id)
