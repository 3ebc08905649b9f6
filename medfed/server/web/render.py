"""Rendering pages: the template response, role-aware navigation, safe redirects and forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from medfed.core.errors import MedFedError
from medfed.server.web.session import ensure_nonce, form_csrf_token

NAVIGATION = {
    "admin": [
        ("Models", "/models"),
        ("Rounds", "/admin/rounds"),
        ("Campaigns", "/admin/campaigns"),
        ("Analytics", "/admin/analytics"),
        ("Hospitals", "/admin/hospitals"),
        ("Versions", "/admin/models"),
        ("Privacy", "/admin/privacy"),
        ("Audit", "/admin/audit"),
        ("Health", "/admin/health"),
    ],
    "data_scientist": [
        ("Models", "/models"),
        ("Rounds", "/admin/rounds"),
        ("Campaigns", "/admin/campaigns"),
        ("Analytics", "/admin/analytics"),
        ("Versions", "/admin/models"),
        ("Privacy", "/admin/privacy"),
    ],
    "hospital": [("Contributions", "/hospital"), ("Leaderboard", "/leaderboard")],
    "doctor": [
        ("Models", "/models"),
        ("Multi-disease check", "/check"),
        ("My predictions", "/predictions"),
    ],
}


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would make the login page a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    user = context.get("user")
    context.setdefault("navigation", NAVIGATION.get(user.role, []) if user else [])
    context["csrf_token"] = form_csrf_token(request)
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )
    ensure_nonce(request, response, request.app.state.settings)
    return response


def see_other(
    path: str, notice: str | None = None, *, error: str | None = None, anchor: str = ""
) -> RedirectResponse:
    """Post/redirect/get; a short notice or error travels in the query string to the next page."""
    query = {key: value[:300] for key, value in (("notice", notice), ("error", error)) if value}
    if query:
        path += ("&" if "?" in path else "?") + urlencode(query)
    return RedirectResponse(path + (f"#{anchor}" if anchor else ""), status_code=303)


def attempt(db: Session, action: Callable[[], Any]) -> str | None:
    """Run a service call; on a domain error undo it and return the message for the page."""
    try:
        action()
    except MedFedError as problem:
        db.rollback()
        return problem.message
    return None


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value)[:500] for key, value in form.items() if isinstance(value, str)}
