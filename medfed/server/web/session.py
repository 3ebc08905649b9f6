"""Web sessions: the HttpOnly cookie, the signed-in user, and CSRF tokens bound to the session."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request, Response

from medfed.core.config import Settings
from medfed.core.errors import AuthenticationFailed, CsrfFailed, TokenInvalid
from medfed.core.security import csrf_token, csrf_token_matches
from medfed.server.db.tables import User
from medfed.server.deps import SESSION_COOKIE, TRAINING_ROLES, DbSession, deny, session_token
from medfed.server.services import auth

NONCE_COOKIE = "medfed_csrf_nonce"


def csrf_binding(request: Request) -> str:
    """What a form's CSRF token is bound to: the session, or before login a per-browser nonce."""
    token = session_token(request)
    if token:
        return token
    return str(request.cookies.get(NONCE_COOKIE) or getattr(request.state, "new_nonce", ""))


def ensure_nonce(request: Request, response: Response, settings: Settings) -> None:
    if request.cookies.get(NONCE_COOKIE):
        return
    nonce = getattr(request.state, "new_nonce", None) or secrets.token_urlsafe(24)
    request.state.new_nonce = nonce
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=settings.session_cookie_secure,
        path="/",
    )


def form_csrf_token(request: Request) -> str:
    binding = csrf_binding(request)
    if not binding:
        request.state.new_nonce = secrets.token_urlsafe(24)
        binding = request.state.new_nonce
    return csrf_token(request.app.state.secret_key, binding)


def check_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    if not csrf_token_matches(request.app.state.secret_key, csrf_binding(request), csrf_token):
        raise CsrfFailed(
            "This form has expired or did not come from MedFed (CSRF check failed). "
            "Reload the page and submit it again."
        )


@dataclass(frozen=True)
class PageUser:
    """Who is signed in, as the page frame shows it; kept so an error page keeps the navigation."""

    display_name: str
    role: str


def optional_web_user(request: Request, db: DbSession) -> User | None:
    token = session_token(request)
    if token is None:
        return None
    try:
        user, _ = auth.resolve_token(db, token, kind="session")
    except AuthenticationFailed:
        return None
    request.state.page_user = PageUser(user.display_name, user.role)
    return user


def required_web_user(user: Annotated[User | None, Depends(optional_web_user)]) -> User:
    if user is None:
        raise TokenInvalid("Please sign in to continue.")
    return user


OptionalWebUser = Annotated[User | None, Depends(optional_web_user)]
WebUser = Annotated[User, Depends(required_web_user)]
CsrfChecked = Depends(check_csrf)


def web_role(*roles: str) -> Callable[..., User]:
    """A page only these roles may open; a refusal is audited like the API's."""

    def dependency(user: WebUser, db: DbSession, request: Request) -> User:
        if user.role not in roles:
            raise deny(db, user, request, f"This page is for {' or '.join(roles)} accounts.")
        return user

    return dependency


WebClinician = Annotated[User, Depends(web_role("doctor", "admin"))]
WebAdmin = Annotated[User, Depends(web_role("admin"))]
WebScience = Annotated[User, Depends(web_role(*TRAINING_ROLES))]
WebStaff = Annotated[User, Depends(web_role("hospital", "admin"))]


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
