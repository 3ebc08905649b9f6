"""`medfed admin`: hospitals, users, enrollment tokens and the audit trail, on the server host."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medfed.cli.context import cli_actor, console, database_session, settings_from
from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.config import Settings
from medfed.core.errors import ConfigurationError
from medfed.server.services import accounts, audit, authority, enrollment, lifecycle

app = typer.Typer(help="Administer hospitals, users and the audit trail.", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect and verify the audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _print_token(name: str, token: str, expires_at: str) -> None:
    console.print(
        f"Enrollment token for [bold]{name}[/bold] (one use, expires {expires_at[:16]} UTC):"
    )
    # Printed bare on its own line so scripts can take it with `tail -n 1`.
    console.print("On the hospital's node run: medfed node enroll --server URL --token TOKEN")
    print(token)


def _fingerprint(session: Session, settings: Settings) -> str:
    """The network authority's fingerprint, which the token pins (created on first need)."""
    return authority.load_or_create(session, settings.require_secret_key()).fingerprint


@app.command("create-hospital")
def create_hospital(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Hospital name.")]
) -> None:
    """Register a hospital and print its one-time enrollment token."""
    settings = settings_from(ctx)
    with database_session(settings) as session:
        hospital = accounts.create_hospital(session, name, actor=cli_actor())
        issued = enrollment.create_enrollment_token(
            session,
            hospital,
            ttl_hours=settings.enrollment_token_ttl_hours,
            actor=cli_actor(),
            authority_fingerprint=_fingerprint(session, settings),
        )
    console.print(f"Registered hospital [bold]{hospital.name}[/bold] (id {hospital.id}).")
    _print_token(hospital.name, issued.token, issued.expires_at_iso)


@app.command("enrollment-token")
def enrollment_token(
    ctx: typer.Context, hospital: Annotated[str, typer.Argument(help="Hospital name or id.")]
) -> None:
    """Issue a new one-time enrollment token for an existing hospital."""
    settings = settings_from(ctx)
    with database_session(settings) as session:
        found = accounts.find_hospital(session, hospital)
        issued = enrollment.create_enrollment_token(
            session,
            found,
            ttl_hours=settings.enrollment_token_ttl_hours,
            actor=cli_actor(),
            authority_fingerprint=_fingerprint(session, settings),
        )
    _print_token(found.name, issued.token, issued.expires_at_iso)


@app.command("create-user")
def create_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, data_scientist, hospital or doctor.")],
    hospital: Annotated[
        str | None, typer.Option(help="Hospital name or id (hospital staff).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Shown in the web app.")] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for (or read from stdin with --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = typer.prompt(
            f"Password for {username}", hide_input=True, confirmation_prompt=True
        )
    else:
        raise ConfigurationError("No password: use --password-stdin or run in a terminal.")
    settings = settings_from(ctx)
    with database_session(settings) as session:
        hospital_id = accounts.find_hospital(session, hospital).id if hospital else None
        user = accounts.create_user(
            session,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            hospital_id=hospital_id,
            actor=cli_actor(),
        )
    console.print(f"Created {user.role} [bold]{user.username}[/bold] (id {user.id}).")


@app.command("list-hospitals")
def list_hospitals(ctx: typer.Context) -> None:
    """Hospitals and their enrolled nodes."""
    with database_session(settings_from(ctx)) as session:
        table = Table("id", "name", "nodes", "created", "state")
        for hospital in accounts.list_hospitals(session):
            table.add_row(
                str(hospital.id),
                hospital.name,
                str(len(hospital.nodes)),
                str(hospital.created_at)[:16],
                "active" if hospital.is_active else "deactivated",
            )
    console.print(table)


@app.command("list-nodes")
def list_nodes(
    ctx: typer.Context,
    hospital: Annotated[
        str | None, typer.Argument(help="Hospital name or id; default: all.")
    ] = None,
) -> None:
    """Enrolled nodes, their hospital and whether they may call the server."""
    with database_session(settings_from(ctx)) as session:
        hospitals = (
            [accounts.find_hospital(session, hospital)]
            if hospital
            else accounts.list_hospitals(session)
        )
        table = Table(
            "node", "name", "hospital", "enrolled", "last seen", "certificate until", "state"
        )
        for found in hospitals:
            nodes = accounts.list_nodes(session, found.id)
            expiry = authority.latest_expiry(session, [node.id for node in nodes])
            for node in nodes:
                table.add_row(
                    str(node.id),
                    node.name,
                    found.name,
                    str(node.enrolled_at)[:16],
                    str(node.last_seen_at or "")[:16],
                    str(expiry.get(node.id, "none"))[:16],
                    _node_state(node.revoked_at, found.is_active),
                )
    console.print(table)


def _node_state(revoked_at: object, hospital_active: bool) -> str:
    if revoked_at is not None:
        return f"revoked {str(revoked_at)[:16]}"
    return "active" if hospital_active else "hospital deactivated"


Reason = Annotated[str, typer.Option(help="Why; kept in the audit trail.")]


@app.command("revoke-node")
def revoke_node(
    ctx: typer.Context,
    node_id: Annotated[int, typer.Argument(help="The node's id (see list-nodes).")],
    reason: Reason,
) -> None:
    """Revoke a node: its credential stops working at once and live rounds drop it."""
    with database_session(settings_from(ctx)) as session:
        node = lifecycle.revoke_node(session, node_id, reason=reason, actor=cli_actor())
        name = node.name
    console.print(f"Node {node_id} ({name}) is revoked; it is refused from its next request.")


@app.command("rotate-node-credential")
def rotate_node_credential(
    ctx: typer.Context,
    node_id: Annotated[int, typer.Argument(help="The node's id (see list-nodes).")],
) -> None:
    """Give a node a new credential (printed once); the old one stops working at once."""
    with database_session(settings_from(ctx)) as session:
        issued = lifecycle.rotate_credential(session, node_id, actor=cli_actor())
        secret = issued.credential
    console.print(
        f"New credential for node {node_id}; the old one no longer works. On the hospital's "
        "node run `medfed node set-credential` and paste it:"
    )
    print(secret)  # bare on its own line, like an enrollment token


@app.command("deactivate-hospital")
def deactivate_hospital(
    ctx: typer.Context,
    hospital: Annotated[str, typer.Argument(help="Hospital name or id.")],
    reason: Reason,
) -> None:
    """Refuse the hospital's nodes (live rounds drop them) until it is reactivated."""
    _set_active(ctx, hospital, False, reason)


@app.command("reactivate-hospital")
def reactivate_hospital(
    ctx: typer.Context,
    hospital: Annotated[str, typer.Argument(help="Hospital name or id.")],
    reason: Reason,
) -> None:
    """Let a deactivated hospital's (unrevoked) nodes back in."""
    _set_active(ctx, hospital, True, reason)


def _set_active(ctx: typer.Context, hospital: str, active: bool, reason: str) -> None:
    with database_session(settings_from(ctx)) as session:
        found = accounts.find_hospital(session, hospital)
        lifecycle.set_hospital_active(session, found, active, reason=reason, actor=cli_actor())
        name = found.name
    console.print(f"{name} is {'active again' if active else 'deactivated'}.")


@app.command("list-users")
def list_users(ctx: typer.Context) -> None:
    """User accounts."""
    with database_session(settings_from(ctx)) as session:
        table = Table("id", "username", "role", "hospital", "active")
        for user in accounts.list_users(session):
            table.add_row(
                str(user.id),
                user.username,
                user.role,
                str(user.hospital_id or ""),
                "yes" if user.is_active else "no",
            )
    console.print(table)


@audit_app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check the whole hash chain; names the first edited, inserted or deleted row."""
    settings = settings_from(ctx)
    with database_session(settings) as session:
        verdict = audit.verify(session)
        head = audit.chain_head_hash(session)
    if verdict.ok:
        console.print(f"[green]OK[/green] {verdict.describe()}")
        console.print(f"chain head: {head}")
    else:
        console.print(f"[red]FAILED[/red] {verdict.describe()}")
    try:
        with database_session(settings) as session:
            audit.record(
                session,
                actor=cli_actor(),
                action=AuditAction.AUDIT_VERIFIED,
                outcome=Outcome.SUCCESS if verdict.ok else Outcome.FAILURE,
                details={
                    "rows_checked": verdict.rows_checked,
                    "first_bad_seq": verdict.first_bad_seq,
                },
            )
    except IntegrityError:
        # A forged row occupies the next sequence number: the trail cannot be appended to.
        console.print(
            "[red]The verification could not be recorded: the next audit row is taken.[/red]"
        )
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def list_events(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="How many events, newest first.")
    ] = 20,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
) -> None:
    """The latest audit events."""
    with database_session(settings_from(ctx)) as session:
        table = Table("seq", "time (UTC)", "actor", "action", "object", "outcome")
        for event in audit.list_events(session, limit=limit, action=action):
            table.add_row(
                str(event.seq),
                event.occurred_at[:19],
                event.actor,
                event.action,
                event.object or "",
                event.outcome,
            )
    console.print(table)
