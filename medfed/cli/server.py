"""`medfed server`: initialise, migrate and run the global server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from medfed.cli.context import cli_actor, console, database_session, settings_from
from medfed.core.audit_actions import AuditAction
from medfed.core.config import Settings
from medfed.core.errors import ConfigurationError, Conflict
from medfed.server.services import accounts, audit

# Seconds a stopping server gives requests in flight (uploads, predictions) to finish.
SHUTDOWN_GRACE_SECONDS = 5

app = typer.Typer(help="Run and set up the global MedFed server.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def server(ctx: typer.Context) -> None:
    """Run the server (same as `medfed server start`) when no subcommand is given."""
    if ctx.invoked_subcommand is None:
        start(ctx)


@app.command()
def start(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Apply migrations and serve the web app and the REST API."""
    serve(settings_from(ctx), host, port)


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from medfed.server.workers import WORKER_SETTINGS, Supervisor, prepare_apart, worker_settings

    bind_host = host or settings.host
    bind_port = port or settings.port
    options: dict[str, Any] = {  # host and port: each worker binds its own socket
        "log_level": settings.log_level.lower(),
        # httptools (C) parses HTTP/1.1 (server/tls.MedFedHttpProtocol, set by _tls_options):
        # about 8 % more predictions per second than h11 at 200 clients. uvloop is left out:
        # its p99 at that load was twice asyncio's.
        # Forwarded headers only from the proxies named in the settings; none by default.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or "",
        # On stop, requests still running after this long are cancelled: nodes' long polls
        # (which end as soon as their node hangs up) would otherwise hold a restart for up to
        # their whole wait. The node retries a cut poll with back-off.
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        **_tls_options(settings),
    }
    scheme = "https" if settings.serves_tls else "http"
    workers = settings.worker_processes
    if workers == 1:
        from medfed.server.app import create_app

        app_instance = create_app(settings)
        console.print(f"MedFed server on {scheme}://{bind_host}:{bind_port}  (API docs: /docs)")
        uvicorn.run(app_instance, host=bind_host, port=bind_port, **options)
        return
    # Several processes share the port. What must happen once at start happens here, before
    # they start; the round ticker then runs in whichever of them holds the lead.
    settings.require_secret_key()
    prepare_apart(settings)
    os.environ[WORKER_SETTINGS] = worker_settings(settings)
    console.print(
        f"MedFed server on {scheme}://{bind_host}:{bind_port}  (API docs: /docs; "
        f"{workers} worker processes)"
    )
    status = Supervisor(workers, bind_host, bind_port, options).run()
    if status:
        raise typer.Exit(status)


def _tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's protocol and TLS options: the network's authority (created on a new network's
    first start) checks node certificates, and signs the server's own when it issues one."""
    from medfed.server.services import authority
    from medfed.server.tls import uvicorn_options

    with database_session(settings) as session:
        held = authority.load_or_create(session, settings.require_secret_key())
    return uvicorn_options(settings, held)


@app.command("healthcheck")
def healthcheck(ctx: typer.Context) -> None:
    """Exit 0 if this machine's server answers /healthz (for container health checks)."""
    import ssl
    import urllib.request

    settings = settings_from(ctx)
    scheme = "https" if settings.serves_tls else "http"
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host  # noqa: S104
    # Its own address: the certificate names the public host, so it is not checked here.
    context = ssl._create_unverified_context() if scheme == "https" else None  # noqa: S323
    try:
        with urllib.request.urlopen(  # noqa: S310 - our own server, http(s) only
            f"{scheme}://{host}:{settings.port}/healthz", timeout=3, context=context
        ) as answer:
            healthy = answer.status == 200
    except OSError as error:
        console.print(f"not healthy: {error}")
        raise typer.Exit(1) from None
    if not healthy:
        raise typer.Exit(1)


@app.command("tls-certificate")
def tls_certificate(
    ctx: typer.Context,
    hostname: Annotated[
        list[str], typer.Option(help="A name or address clients use (repeatable).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for server.pem, server.key, authority.pem.")],
) -> None:
    """Issue a TLS certificate from the network's authority, for a reverse proxy in front of
    the servers (a server with MEDFED_TLS_HOSTNAMES issues its own)."""
    from medfed.server.services import authority
    from medfed.server.tls import SERVER_CERTIFICATE_DAYS, write_server_certificate

    settings = settings_from(ctx)
    with database_session(settings) as session:
        held = authority.load_or_create(session, settings.require_secret_key())
    cert_file, key_file = write_server_certificate(out, held, hostname)
    console.print(
        f"Wrote {cert_file} (with the authority after it) and {key_file}, valid "
        f"{SERVER_CERTIFICATE_DAYS} days for {', '.join(hostname)}; the proxy checks client "
        f"certificates against {out / 'authority.pem'}."
    )


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the database schema up to date."""
    settings = settings_from(ctx)
    with database_session(settings):
        pass
    console.print("Database schema is up to date.")


@app.command()
def init(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(help="The first administrator's username.")] = "admin",
    display_name: Annotated[str | None, typer.Option(help="Shown in the web app.")] = None,
) -> None:
    """Create the first administrator. The password comes from MEDFED_ADMIN_PASSWORD or a prompt."""
    settings = settings_from(ctx)
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
    elif sys.stdin.isatty():
        password = typer.prompt(
            "Password for the first administrator", hide_input=True, confirmation_prompt=True
        )
    else:
        raise ConfigurationError(
            "No password: set MEDFED_ADMIN_PASSWORD or run `medfed server init` in a terminal."
        )
    with database_session(settings) as session:
        if accounts.count_admins(session) > 0:
            raise Conflict("The server is already initialised: an administrator exists.")
        user = accounts.create_user(
            session,
            username=username,
            password=password,
            role="admin",
            display_name=display_name or "Administrator",
            actor=cli_actor(),
        )
        audit.record(
            session,
            actor=cli_actor(),
            action=AuditAction.ADMIN_INITIALISED,
            object=f"user:{user.username}",
        )
    console.print(f"Created administrator [bold]{user.username}[/bold].")
