"""The FastAPI application: wiring only (settings, database, middleware, routers, errors)."""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from medfed import __version__
from medfed.core.config import Settings, apply_to_process
from medfed.core.headers import SecurityHeaders
from medfed.server.api.health import router as health_router
from medfed.server.api.router import build_api_router
from medfed.server.balance import Rebalance, Shares
from medfed.server.bell import Bell
from medfed.server.db import local_notify
from medfed.server.db.engine import (
    make_engine,
    make_line_engine,
    make_read_engine,
    make_session_factory,
    request_sessions,
)
from medfed.server.db.group_commit import GroupCommit
from medfed.server.db.leader import Leadership
from medfed.server.db.local_notify import LocalRelay
from medfed.server.db.migrate import upgrade_to_head
from medfed.server.db.read_line import ReadLine
from medfed.server.deps import DatabaseGate
from medfed.server.errors import install_error_handlers
from medfed.server.middleware import BodySizeLimit, RequestMetrics
from medfed.server.services.authority import AuthorityHolder
from medfed.server.services.baselines import ensure_baselines
from medfed.server.services.holdout import HoldoutData
from medfed.server.services.registry import ModelCache
from medfed.server.services.round_driver import RoundServices
from medfed.server.services.throttle import Throttle
from medfed.server.storage import ArtifactStore, make_store
from medfed.server.ticker import RoundTicker
from medfed.server.tls import NodeCertificates
from medfed.server.turns import Turns
from medfed.server.web import build_pages_router, words
from medfed.server.workers import WORKER_SETTINGS

if TYPE_CHECKING:
    from medfed.server.db.notify import PgRelay

logger = logging.getLogger("medfed.server")

WEB_DIR = Path(__file__).with_name("web")
SWAGGER_ASSETS = Path(fastapi_offline.__file__).with_name("static")


# Predictions started (and answers built) per pass of the event loop: 6 kept /healthz's p99
# near 30 ms under 200 clients without costing throughput (server/turns.py).
PREDICTIONS_PER_PASS = 6
# Threads per process for PostgreSQL's read-line lookups (its engine's pool holds ten).
LINE_THREADS = 4


def prepare_database(
    settings: Settings, engine: Engine | None = None, store: ArtifactStore | None = None
) -> None:
    """Once per start: migrate, then train the missing baselines (as the settings say)."""
    if not settings.auto_migrate:
        return
    own = engine is None
    engine = engine or make_engine(settings.resolved_database_url)
    try:
        upgrade_to_head(engine)
    except SQLAlchemyError as exc:
        # Keep serving /healthz; /readyz reports the database until it is back.
        logger.error("could not migrate the database at start-up: %s", type(exc).__name__)
    else:
        if settings.train_baselines:
            ensure_baselines(
                make_session_factory(engine),
                store or make_store(settings),
                settings.datasets_dir,
            )
    finally:
        if own:
            engine.dispose()


def create_worker_app(shares: Shares | None = None) -> FastAPI:
    """One of several server processes (`uvicorn --factory`), configured by its parent;
    `shares`: its slot among the workers' connection counts (server/balance.py)."""
    _end_with_parent()
    return create_app(settings_from_parent(os.environ), shares=shares)


def settings_from_parent(environ: Mapping[str, str]) -> Settings:
    """A worker's settings, as its parent wrote them, applied to this process as they are to
    the parent."""
    return apply_to_process(Settings(**json.loads(environ[WORKER_SETTINGS])))


def _end_with_parent() -> None:
    """Ask Linux to stop this worker when its parent dies, even by SIGKILL (no orphans left
    holding the port); elsewhere, nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def create_app(settings: Settings, *, shares: Shares | None = None) -> FastAPI:
    """Build the app; `settings` are checked (secret key) before anything is served."""
    secret_key = settings.require_secret_key()
    # MedFed's own messages (the ticker's lead, round transitions) at the operator's level.
    logging.getLogger("medfed").setLevel(settings.log_level)
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    read_engine = make_read_engine(settings.resolved_database_url)
    line_engine = make_line_engine(settings.resolved_database_url)
    store = make_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare_database(settings, engine, store)
        try:  # the network's authority, created here on a new network's first start
            app.state.authority.get()
        except SQLAlchemyError as exc:  # loaded on first need once the database is back
            logger.error("could not load the certificate authority: %s", type(exc).__name__)
        # Everything loaded at start-up (torch, SQLAlchemy, the models) lives as long as the
        # process: keeping it out of the collector's full passes takes them from about 200 ms,
        # a stall for every request in flight, to a few milliseconds.
        gc.collect()
        gc.freeze()
        relay: PgRelay | LocalRelay | None = None
        if engine.dialect.name == "postgresql":  # rings cross processes by LISTEN/NOTIFY
            from medfed.server.db.notify import PgRelay  # psycopg: loaded on PostgreSQL only

            relay = PgRelay(engine, app.state.bell)
        elif settings.worker_processes > 1 and local_notify.supports(engine):
            relay = LocalRelay(engine, app.state.bell, secret_key)  # loopback datagrams
        if relay is not None:
            try:
                relay.start()
            except OSError as error:  # e.g. the database's folder is not writable
                logger.warning("rings cannot reach the other server processes: %s", error)
                relay, app.state.bell_recheck = None, 1.0  # their long polls re-check instead
        ticker = None
        if settings.round_tick_seconds > 0:
            ticker = RoundTicker(
                app.state.round_services,
                settings.round_tick_seconds,
                Leadership(engine),
                app.state.bell,
            )
            ticker.start()
        yield
        if ticker is not None:
            ticker.stop()
        if relay is not None:
            relay.stop()
        app.state.group_commit.close()
        app.state.read_line.close()
        line_engine.dispose()
        read_engine.dispose()
        engine.dispose()

    app = FastAPI(
        title="MedFed",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.secret_key = secret_key
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    # Fewer requests hold a session than the pool has connections and the worker threads (40).
    app.state.db_gate = DatabaseGate(request_sessions(engine))
    app.state.read_factory = make_session_factory(read_engine)
    # PostgreSQL answers from another process: its lookups wait on threads, not on the loop.
    app.state.read_line = ReadLine(
        line_engine, threads=LINE_THREADS if engine.dialect.name == "postgresql" else 0
    )
    app.state.bell = Bell()
    app.state.bell.watch(app.state.session_factory)
    # Rings cross processes by LISTEN/NOTIFY or loopback datagrams; a database with neither
    # (SQLite in memory) has its long polls re-checked every second instead.
    app.state.bell_recheck = (
        None
        if engine.dialect.name == "postgresql"
        or settings.worker_processes == 1
        or local_notify.supports(engine)
        else 1.0
    )
    app.state.prediction_turns = Turns(PREDICTIONS_PER_PASS)
    app.state.authority = AuthorityHolder(app.state.session_factory, secret_key)
    app.state.node_certificates = NodeCertificates(settings, app.state.authority)
    app.state.group_commit = GroupCommit(app.state.session_factory)
    app.state.templates = Jinja2Templates(directory=WEB_DIR / "templates")
    words.install(app.state.templates.env)
    app.state.login_throttle = Throttle(
        rate_limit=settings.login_rate_per_minute,
        window_seconds=60.0,
        max_failures=settings.login_max_failures,
        lockout_seconds=settings.login_lockout_minutes * 60.0,
    )
    app.state.metrics_registry = CollectorRegistry()
    app.state.artifact_store = store
    app.state.model_cache = ModelCache(store)
    app.state.round_services = RoundServices(
        app.state.session_factory,
        store,
        app.state.model_cache,
        HoldoutData(settings.datasets_dir, evidence=settings.holdout_evidence),
        settings,
        reader=app.state.read_factory,
    )

    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(build_api_router())
    app.include_router(build_pages_router())
    app.mount("/static/docs", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        # Served from MedFed itself (hospital networks block CDNs), started from a file.
        templates: Jinja2Templates = app.state.templates
        return templates.TemplateResponse(request, "docs.html", {})

    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, registry=app.state.metrics_registry)
    app.add_middleware(SecurityHeaders)
    if shares is not None:
        app.add_middleware(Rebalance, shares=shares)
    return app
