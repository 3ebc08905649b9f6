"""Hospitals, their enrollment tokens and their nodes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medfed.server.api.schemas import (
    EnrollmentTokenPublic,
    HospitalCreatedPublic,
    HospitalIn,
    HospitalPublic,
    NodePublic,
    ReasonIn,
    RotatedCredentialPublic,
)
from medfed.server.bounds import IdPath
from medfed.server.deps import (
    AdminUser,
    DbSession,
    OwnedHospital,
    SettingsDep,
    SpendingHospital,
    StaffOrAdmin,
)
from medfed.server.services import accounts, audit, contributions, enrollment, lifecycle
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
    body: HospitalIn, admin: AdminUser, db: DbSession, settings: SettingsDep, request: Request
) -> HospitalCreatedPublic:
    actor = audit.user_actor(admin.username)
    hospital = accounts.create_hospital(db, body.name, actor=actor)
    issued = enrollment.create_enrollment_token(
        db,
        hospital,
        ttl_hours=settings.enrollment_token_ttl_hours,
        actor=actor,
        authority_fingerprint=request.app.state.authority.get().fingerprint,
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
    hospital_id: IdPath,
    admin: AdminUser,
    db: DbSession,
    settings: SettingsDep,
    request: Request,
) -> EnrollmentTokenPublic:
    hospital = accounts.get_hospital(db, hospital_id)
    issued = enrollment.create_enrollment_token(
        db,
        hospital,
        ttl_hours=settings.enrollment_token_ttl_hours,
        actor=audit.user_actor(admin.username),
        authority_fingerprint=request.app.state.authority.get().fingerprint,
    )
    return _token_public(issued)


@router.get("/{hospital_id}/privacy")
def privacy_spend(hospital: SpendingHospital, db: DbSession) -> dict[str, dict[str, float]]:
    """Epsilon and delta this hospital's nodes reported, per disease (basic composition)."""
    return contributions.spend_by_disease(db, hospital.id)


@router.post("/{hospital_id}/deactivate", response_model=HospitalPublic)
def deactivate_hospital(
    hospital_id: IdPath, body: ReasonIn, admin: AdminUser, db: DbSession
) -> HospitalPublic:
    """Its nodes are refused from the next request on and leave live rounds as dropouts."""
    return _set_active(db, hospital_id, False, body, admin.username)


@router.post("/{hospital_id}/reactivate", response_model=HospitalPublic)
def reactivate_hospital(
    hospital_id: IdPath, body: ReasonIn, admin: AdminUser, db: DbSession
) -> HospitalPublic:
    """Its unrevoked nodes work again; revoked ones stay revoked."""
    return _set_active(db, hospital_id, True, body, admin.username)


def _set_active(
    db: DbSession, hospital_id: int, active: bool, body: ReasonIn, username: str
) -> HospitalPublic:
    hospital = accounts.get_hospital(db, hospital_id)
    actor = audit.user_actor(username)
    lifecycle.set_hospital_active(db, hospital, active, reason=body.reason, actor=actor)
    return HospitalPublic.model_validate(hospital)


@router.post("/{hospital_id}/nodes/{node_id}/revoke", response_model=NodePublic)
def revoke_node(
    hospital_id: IdPath, node_id: IdPath, body: ReasonIn, admin: AdminUser, db: DbSession
) -> NodePublic:
    """The node's credential stops working at once; a live round treats it as a dropout."""
    node = lifecycle.node_of_hospital(db, hospital_id, node_id)
    lifecycle.revoke_node(db, node.id, reason=body.reason, actor=audit.user_actor(admin.username))
    return NodePublic.model_validate(node)


@router.post(
    "/{hospital_id}/nodes/{node_id}/credential",
    response_model=RotatedCredentialPublic,
    status_code=201,
)
def rotate_node_credential(
    hospital_id: IdPath, node_id: IdPath, admin: AdminUser, db: DbSession
) -> RotatedCredentialPublic:
    """A new credential, shown once; the old one stops working at once."""
    node = lifecycle.node_of_hospital(db, hospital_id, node_id)
    issued = lifecycle.rotate_credential(db, node.id, actor=audit.user_actor(admin.username))
    return RotatedCredentialPublic(
        node_id=node.id,
        credential=issued.credential,
        instructions=ROTATED_INSTRUCTIONS,
    )


ROTATED_INSTRUCTIONS = (
    "On the hospital's node: medfed node set-credential (paste the credential on standard input)"
)
