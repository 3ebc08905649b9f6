"""Bearer tokens for API clients."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from medfed.server.api.schemas import LoginIn, TokenPublic, UserPublic
from medfed.server.deps import (
    ClientAddress,
    CurrentToken,
    CurrentUser,
    DbSession,
    SettingsDep,
    Units,
    login_rate_limit,
)
from medfed.server.services import auth

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenPublic, dependencies=[Depends(login_rate_limit)])
def create_token(
    body: LoginIn, units: Units, request: Request, settings: SettingsDep, client: ClientAddress
) -> TokenPublic:
    issued = auth.login(
        units,
        request.app.state.login_guard,
        settings,
        username=body.username,
        password=body.password,
        kind="api",
        client=client,
    )
    return TokenPublic(access_token=issued.token, expires_at=issued.expires_at)


@router.post("/revoke", status_code=204)
def revoke_token(token: CurrentToken, db: DbSession, client: ClientAddress) -> Response:
    auth.revoke(db, token, client=client)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
