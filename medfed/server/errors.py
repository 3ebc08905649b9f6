"""The one place where errors become HTTP: JSON under /api, an HTML page everywhere else."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from medfed.core import errors
from medfed.core.errors import status_for
from medfed.server.web.render import NAVIGATION
from medfed.server.web.session import form_csrf_token

logger = logging.getLogger("medfed.server")


HTTP_CODES = {
    400: "bad_request",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


MACHINE_PATHS = frozenset({"/readyz", "/healthz", "/metrics"})  # answered in JSON, like /api


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in MACHINE_PATHS


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if is_api_request(request):
        body: dict[str, Any] = {"code": code, "message": message}
        if field:
            body["field"] = field
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    templates: Jinja2Templates = request.app.state.templates
    # A signed-in person keeps the navigation and the sign-out button on an error page.
    user = getattr(request.state, "page_user", None)
    frame: dict[str, Any] = {"user": user, "navigation": [], "csrf_token": ""}
    if user is not None:
        frame.update(navigation=NAVIGATION.get(user.role, []), csrf_token=form_csrf_token(request))
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "code": code, "message": message, **frame},
        status_code=status,
        headers=headers,
    )


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.MedFedError)
    status = status_for(exc)
    headers = None
    if isinstance(exc, errors.TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    if status == 401 and is_api_request(request):
        headers = {"WWW-Authenticate": "Bearer"}
    if status >= 500:
        logger.error("%s: %s", type(exc).__name__, exc.message)
    if status == 401 and not is_api_request(request):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return error_response(request, status, exc.code, exc.message, exc.field, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first: dict[str, Any] = dict(problems[0]) if problems else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return error_response(
            request,
            400,
            "malformed_json",
            "The request body is not valid JSON: " + str(first.get("ctx", {}).get("error", "")),
        )
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or None
    message = _describe_problem(first, field)
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return error_response(request, 422, "invalid_input", message, field)


def _describe_problem(problem: Any, field: str | None) -> str:
    kind = problem.get("type", "")
    subject = f"'{field}'" if field else "The request"
    if kind == "missing":
        return f"{subject} is required."
    if kind == "extra_forbidden":
        return f"{subject} is not an accepted field; remove it."
    return f"{subject}: {problem.get('msg', 'is invalid')}."


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    if exc.status_code == 404:
        message = f"There is nothing at {request.url.path}."
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route matching the path only; a
        # path served by several routes (GET and POST /api/v1/rounds) needs all of them.
        allowed = ", ".join(allowed_methods(request))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allowed})
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
        headers = {"Allow": allowed}
    return error_response(request, exc.status_code, code, message, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    methods = {"OPTIONS"}
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return sorted(methods)


async def _database_down(request: Request, exc: Exception) -> Response:
    logger.error("database unavailable: %s", type(exc).__name__)
    return error_response(
        request,
        503,
        "service_unavailable",
        "The database is unavailable right now. Try again shortly; see /readyz.",
    )


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # Reached only when a concurrent request won a uniqueness race after the service checked.
    return error_response(
        request, 409, "conflict", "This conflicts with a record that was just created. Retry."
    )


async def _out_of_range(request: Request, exc: Exception) -> Response:
    # A safety net behind the schemas' bounds (api/bounds.py): a number the database cannot
    # store (SQLite raises OverflowError, PostgreSQL a DataError) is bad input, not a fault.
    logger.warning("number out of range on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        request,
        422,
        "invalid_input",
        "A number in the request is out of the range the server accepts; check ids and counts.",
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    # The connection is closed after a fault, and says so (a client must not reuse it).
    return error_response(
        request,
        500,
        "internal_error",
        "Something went wrong on the server. The error was logged; please try again.",
        headers={"Connection": "close"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.MedFedError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(Exception, _unexpected)
