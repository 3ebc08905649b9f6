"""`medfed demo`: a working server on the embedded defaults, with demo logins, in one command."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from medfed.cli.context import console, database_session, settings_from
from medfed.cli.server import serve
from medfed.core.config import Settings
from medfed.core.errors import Conflict, NotFound
from medfed.core.files import write_private_file
from medfed.core.security import password_problem, verify_password
from medfed.server.db.tables import Hospital
from medfed.server.services import accounts
from medfed.simulation.demo_round import DEMO_SITES, explain_outcome, run_demo_round

app = typer.Typer(help="Start a demo server with demo accounts.", invoke_without_command=True)

# One hospital login per hospital that takes part in the demo round, so each hospital page
# shows that hospital's own contributions, privacy spend and impact.
DEMO_ACCOUNTS: tuple[tuple[str, str, str | None], ...] = (
    ("admin", "admin", None),
    ("doctor", "doctor", None),
    *((site.login, "hospital", site.hospital) for site in DEMO_SITES),
)
ACTOR = "cli:demo"
DEMO_MIN_ROWS = 100


def _random_password(username: str) -> str:
    while True:
        candidate = secrets.token_urlsafe(12)
        if password_problem(candidate, username) is None:
            return candidate


def _demo_hospital(session: Session, name: str) -> Hospital:
    try:
        return accounts.find_hospital(session, name)
    except NotFound:
        return accounts.create_hospital(session, name, actor=ACTOR)


@app.callback()
def demo(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Set up and print the logins only.")
    ] = False,
    no_round: Annotated[
        bool, typer.Option("--no-round", help="Serve without running the demo training campaign.")
    ] = False,
) -> None:
    """Create demo accounts with random passwords (kept in MEDFED_HOME, mode 0600) and serve."""
    settings = settings_from(ctx)
    logins_file = settings.home / "demo-logins.json"
    # Passwords are saved before any account exists and accounts are created only when missing,
    # so an interrupted set-up is completed, never left with logins that do not work.
    logins: dict[str, str] = (
        json.loads(logins_file.read_text(encoding="utf-8")) if logins_file.exists() else {}
    )
    missing = [username for username, _, _ in DEMO_ACCOUNTS if username not in logins]
    if missing:  # a new home, or a home from an older demo that had fewer logins
        logins.update({username: _random_password(username) for username in missing})
        write_private_file(logins_file, json.dumps(logins, indent=2) + "\n")
    with database_session(settings) as session:
        users = {user.username: user for user in accounts.list_users(session)}
        existing = set(users)
        foreign = existing - set(logins) or {
            name
            for name in existing
            if not verify_password(users[name].password_hash, logins[name])
        }
        if foreign:
            raise Conflict(
                "This home already has accounts that the demo did not create; "
                "use another MEDFED_HOME for the demo."
            )
        for username, role, hospital_name in DEMO_ACCOUNTS:
            if username in existing:
                continue
            hospital = _demo_hospital(session, hospital_name) if hospital_name else None
            accounts.create_user(
                session,
                username=username,
                password=logins[username],
                role=role,
                display_name=f"{hospital_name} staff" if hospital_name else f"Demo {role}",
                hospital_id=hospital.id if hospital else None,
                actor=ACTOR,
            )
    url = f"http://{settings.host}:{port or settings.port}"

    roles = {username: (role, hospital) for username, role, hospital in DEMO_ACCOUNTS}

    def announce() -> None:
        console.print(f"\n[bold]MedFed demo[/bold] at {url}   (API docs: {url}/docs)")
        console.print(f"Demo logins (also in {logins_file}):")
        for username, password in logins.items():
            role, hospital = roles.get(username, ("", None))
            who = f"staff of {hospital}" if hospital else role
            console.print(f"  {username:<11} {password:<18} {who}")

    announce()
    if no_serve:
        return
    # The demo hospitals are small sites: the demo network accepts 100 training rows.
    demo_settings = settings.model_copy(
        update={
            "policy_min_rows": min(settings.policy_min_rows, DEMO_MIN_ROWS),
            "log_level": "WARNING",
        }
    )
    if not no_round:
        threading.Thread(
            target=_round_in_background,
            args=(url, ("admin", logins["admin"]), settings, announce),
            daemon=True,
        ).start()
    serve(demo_settings, None, port)


def _round_in_background(
    url: str, admin: tuple[str, str], settings: Settings, announce: Callable[[], None]
) -> None:
    console.print("Running a short training campaign: three heart-disease sites as hospitals...")
    try:
        outcome = run_demo_round(
            url, admin, settings.home, settings.datasets_dir, say=console.print
        )
    except Exception as error:  # the demo server keeps running; say what went wrong
        console.print(f"[red]The demo campaign did not complete:[/red] {error}")
        return
    announce()
    console.print("\n[bold]What happened[/bold]")
    for line in explain_outcome(outcome):
        console.print("  " + line)
