"""User accounts (administrators manage them)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medfed.server.api.schemas import UserIn, UserPublic, UserUpdateIn
from medfed.server.bounds import IdPath
from medfed.server.deps import AdminUser, CurrentUser, DbSession, deny
from medfed.server.services import accounts, audit

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[UserPublic])
def list_users(_: AdminUser, db: DbSession) -> list[UserPublic]:
    return [UserPublic.model_validate(user) for user in accounts.list_users(db)]


@router.post("", response_model=UserPublic, status_code=201)
def create_user(body: UserIn, admin: AdminUser, db: DbSession) -> UserPublic:
    user = accounts.create_user(
        db,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        hospital_id=body.hospital_id,
        actor=audit.user_actor(admin.username),
    )
    return UserPublic.model_validate(user)


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: IdPath, user: CurrentUser, db: DbSession, request: Request) -> UserPublic:
    if user.role != "admin" and user.id != user_id:
        raise deny(db, user, request, "You can see only your own account.")
    return UserPublic.model_validate(accounts.get_user(db, user_id))


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: IdPath, body: UserUpdateIn, admin: AdminUser, db: DbSession) -> UserPublic:
    target = accounts.get_user(db, user_id)
    updated = accounts.set_user_active(
        db, target, body.is_active, actor=audit.user_actor(admin.username)
    )
    return UserPublic.model_validate(updated)
