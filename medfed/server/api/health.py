"""Liveness, readiness and metrics: outside the versioned API, for orchestrators."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from medfed import __version__
from medfed.core.errors import NotFound, TokenInvalid
from medfed.server.api.schemas import ErrorOut
from medfed.server.db.migrate import migration_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """On the event loop itself: a worker thread would have to wait for the interpreter lock
    behind the requests in flight, which is what a liveness probe must not measure."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "Database unreachable or not migrated."}})
def readyz(request: Request) -> JSONResponse:
    try:
        status = migration_status(request.app.state.engine)
    except SQLAlchemyError as exc:
        return JSONResponse(
            {"status": "not ready", "database": "unreachable", "reason": type(exc).__name__},
            status_code=503,
        )
    if not status.is_current:
        return JSONResponse(
            {
                "status": "not ready",
                "database": "reachable",
                "migrations": f"at {status.current or 'none'}, head is {status.head}",
                "reason": "run `medfed server migrate` or restart the server",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": "reachable", "migrations": status.head})


@router.get(
    "/metrics",
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        401: {"model": ErrorOut, "description": "Missing or wrong metrics token."},
        404: {"model": ErrorOut, "description": "Metrics are off (no token configured)."},
    },
)
def metrics(request: Request) -> Response:
    """Prometheus metrics, for a scraper holding `MEDFED_METRICS_TOKEN` as its bearer token."""
    expected = request.app.state.settings.metrics_token
    if expected is None:
        raise NotFound("Metrics are off. Set MEDFED_METRICS_TOKEN and scrape with that token.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.get_secret_value().encode()
    ):
        raise TokenInvalid("Send the metrics token as 'Authorization: Bearer <token>'.")
    return Response(
        generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST
    )
