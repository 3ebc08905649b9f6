"""Bearer tokens for API clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from medfed.server.api.schemas import LoginIn, TokenPublic, UserPublic
from medfed.server.deps import (
    ClientAddress,
    CurrentToken,
    CurrentUser,
    DbSession,
    SettingsDep,
    Units,
    in_login_slot,
    login_rate_limit,
)
from medfed.server.services import auth

router = APIRouter(prefix="/auth", tags=["auth"])


FORM = "application/x-www-form-urlencoded"
LOGIN_SCHEMA = LoginIn.model_json_schema()
FORM_SCHEMA = {
    **LOGIN_SCHEMA,
    "additionalProperties": True,  # grant_type, scope, client_id: sent by OAuth2 clients, unused
    "properties": {
        **LOGIN_SCHEMA["properties"],
        "grant_type": {"type": "string", "enum": ["password"]},
    },
}


async def login_body(request: Request) -> LoginIn:
    """The credentials as JSON, or as the form OAuth2's password flow posts (what the Authorize
    button of /docs sends)."""
    try:
        if request.headers.get("content-type", "").split(";")[0].strip() == FORM:
            form = await request.form()
            data: object = {k: form[k] for k in ("username", "password") if k in form}
        else:
            data = await request.json()
    except ValueError as error:  # reported like any other body that is not JSON
        problem = {"type": "json_invalid", "loc": ("body",), "ctx": {"error": str(error)}}
        raise RequestValidationError([{**problem, "msg": "JSON decode error"}]) from None
    try:
        return LoginIn.model_validate(data)
    except ValidationError as invalid:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in invalid.errors()]
        ) from None


@router.post(
    "/token",
    response_model=TokenPublic,
    dependencies=[Depends(login_rate_limit)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": LOGIN_SCHEMA},
                FORM: {"schema": FORM_SCHEMA},
            },
        }
    },
)
async def create_token(
    body: Annotated[LoginIn, Depends(login_body)],
    units: Units,
    request: Request,
    settings: SettingsDep,
    client: ClientAddress,
) -> TokenPublic:
    """A bearer token for the API, from a username and password (JSON, or OAuth2's password
    flow form)."""
    issued = await in_login_slot(
        lambda: auth.login(
            units,
            request.app.state.login_throttle,
            settings,
            username=body.username,
            password=body.password,
            kind="api",
            client=client,
        )
    )
    return TokenPublic(access_token=issued.token, expires_at=issued.expires_at)


@router.post("/revoke", status_code=204)
def revoke_token(token: CurrentToken, db: DbSession, client: ClientAddress) -> Response:
    auth.revoke(db, token, client=client)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
