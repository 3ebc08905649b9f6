"""Server-rendered pages: sign-in, sign-out and the role-aware home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from medfed.core.errors import AuthenticationFailed, TooManyRequests
from medfed.server.deps import (
    ClientAddress,
    DbSession,
    SettingsDep,
    Units,
    in_login_slot,
    login_rate_limit,
    session_token,
)
from medfed.server.services import accounts, auth
from medfed.server.web import charts
from medfed.server.web.render import render, safe_next
from medfed.server.web.session import (
    CsrfChecked,
    OptionalWebUser,
    WebUser,
    clear_session_cookie,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


@router.get("/charts.css")
def chart_styles() -> Response:
    """The charts' stylesheet (inline styles would break the Content-Security-Policy)."""
    return Response(
        charts.stylesheet(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, user: OptionalWebUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="")


@router.post("/login", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def login_submit(
    request: Request,
    units: Units,
    settings: SettingsDep,
    client: ClientAddress,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    try:
        await login_rate_limit(request, client)
        issued = await in_login_slot(
            lambda: auth.login(
                units,
                request.app.state.login_throttle,
                settings,
                username=username,
                password=password,
                kind="session",
                client=client,
            )
        )
    except (AuthenticationFailed, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 401
        return render(
            request,
            "login.html",
            status=status,
            error=exc.message,
            next=safe_next(next),
            username=username[:64],
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, issued.token, settings)
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, db: DbSession, client: ClientAddress) -> Response:
    token = session_token(request)
    if token:
        auth.revoke_by_token(db, token, client=client)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: WebUser, db: DbSession) -> Response:
    hospital = accounts.get_hospital(db, user.hospital_id) if user.hospital_id else None
    return render(request, "home.html", user=user, hospital=hospital)
