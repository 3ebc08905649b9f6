"""Administrator pages: hospitals and nodes, model versions, privacy, audit log and health."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from medfed import __version__
from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import load_catalog
from medfed.server.bounds import IdPath
from medfed.server.db.migrate import migration_status
from medfed.server.db.tables import AuditEvent, Hospital, Node, Prediction, Round
from medfed.server.deps import DbSession, SettingsDep
from medfed.server.services import (
    ab,
    accounts,
    audit,
    authority,
    contributions,
    enrollment,
    lifecycle,
    registry,
)
from medfed.server.web.render import attempt, form_of, render, see_other
from medfed.server.web.session import CsrfChecked, WebAdmin, WebScience

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/hospitals", response_class=HTMLResponse)
def hospitals(
    request: Request, user: WebAdmin, db: DbSession, notice: str = "", error: str = ""
) -> Response:
    rows = [(h, accounts.list_nodes(db, h.id)) for h in accounts.list_hospitals(db)]
    certificates = authority.latest_expiry(db, [n.id for _, nodes in rows for n in nodes])
    return render(
        request,
        "admin/hospitals.html",
        user=user,
        rows=rows,
        certificates=certificates,
        notice=notice[:200],
        error=error[:300],
    )


@router.post("/hospitals", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def create_hospital(request: Request, user: WebAdmin, db: DbSession) -> Response:
    name = (await form_of(request)).get("name", "")
    problem = attempt(
        db, lambda: accounts.create_hospital(db, name, actor=audit.user_actor(user.username))
    )
    if problem:
        return see_other("/admin/hospitals", error=problem)
    return see_other("/admin/hospitals", f"Hospital {name.strip()!r} created.")


@router.post(
    "/hospitals/{hospital_id}/tokens", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
def new_token(request: Request, hospital_id: IdPath, user: WebAdmin, db: DbSession) -> Response:
    """The one time the token is shown: it is stored only as a hash."""
    hospital = accounts.get_hospital(db, hospital_id)
    issued = enrollment.create_enrollment_token(
        db,
        hospital,
        ttl_hours=24,
        actor=audit.user_actor(user.username),
        authority_fingerprint=request.app.state.authority.get().fingerprint,
    )
    response = render(request, "admin/token.html", user=user, issued=issued)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(
    "/hospitals/{hospital_id}/active", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
async def set_hospital_active(
    request: Request, hospital_id: IdPath, user: WebAdmin, db: DbSession
) -> Response:
    """Deactivate (its nodes are refused, live rounds drop them) or reactivate a hospital."""
    values = await form_of(request)
    active = values.get("active") == "yes"
    hospital = accounts.get_hospital(db, hospital_id)
    problem = attempt(
        db,
        lambda: lifecycle.set_hospital_active(
            db,
            hospital,
            active,
            reason=values.get("reason", ""),
            actor=audit.user_actor(user.username),
        ),
    )
    anchor = f"hospital-{hospital_id}"
    if problem:
        return see_other("/admin/hospitals", error=problem, anchor=anchor)
    state = "reactivated" if active else "deactivated: its nodes are refused"
    return see_other("/admin/hospitals", f"{hospital.name} {state}.", anchor=anchor)


@router.post(
    "/hospitals/{hospital_id}/nodes/{node_id}/revoke",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
)
async def revoke_node(
    request: Request, hospital_id: IdPath, node_id: IdPath, user: WebAdmin, db: DbSession
) -> Response:
    reason = (await form_of(request)).get("reason", "")
    anchor = f"hospital-{hospital_id}"
    problem = attempt(
        db,
        lambda: lifecycle.revoke_node(
            db,
            lifecycle.node_of_hospital(db, hospital_id, node_id).id,
            reason=reason,
            actor=_actor(user),
        ),
    )
    if problem:
        return see_other("/admin/hospitals", error=problem, anchor=anchor)
    return see_other(
        "/admin/hospitals", f"Node {node_id} revoked: it is refused from now on.", anchor=anchor
    )


@router.post(
    "/hospitals/{hospital_id}/nodes/{node_id}/credential",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
)
def rotate_credential(
    request: Request, hospital_id: IdPath, node_id: IdPath, user: WebAdmin, db: DbSession
) -> Response:
    """The one time the new credential is shown: it is stored only as a hash."""
    issued: list[Any] = []
    problem = attempt(
        db,
        lambda: issued.append(
            lifecycle.rotate_credential(
                db, lifecycle.node_of_hospital(db, hospital_id, node_id).id, actor=_actor(user)
            )
        ),
    )
    if problem:
        return see_other("/admin/hospitals", error=problem, anchor=f"hospital-{hospital_id}")
    response = render(request, "admin/credential.html", user=user, issued=issued[0])
    response.headers["Cache-Control"] = "no-store"
    return response


def _actor(user: Any) -> str:
    return audit.user_actor(user.username)


@router.get("/models", response_class=HTMLResponse)
def versions(
    request: Request, user: WebScience, db: DbSession, notice: str = "", error: str = ""
) -> Response:
    catalog = load_catalog()
    diseases = [
        (spec, registry.versions(db, disease), ab.get_challenger(db, disease))
        for disease, spec in catalog.items()
    ]
    return render(
        request,
        "admin/models.html",
        user=user,
        diseases=diseases,
        notice=notice[:200],
        error=error[:300],
    )


@router.post("/models/{disease}/activate", dependencies=[CsrfChecked])
async def activate(request: Request, disease: str, user: WebScience, db: DbSession) -> Response:
    form = await form_of(request)
    version, reason = form.get("version", ""), form.get("reason", "")
    problem = attempt(
        db,
        lambda: registry.activate(
            db, disease, version, reason=reason, actor=audit.user_actor(user.username)
        ),
    )
    if problem:
        return see_other("/admin/models", error=problem, anchor=disease)
    return see_other("/admin/models", f"{version} is now active for {disease}.", anchor=disease)


@router.post("/models/{disease}/challenger", dependencies=[CsrfChecked])
async def challenger(request: Request, disease: str, user: WebScience, db: DbSession) -> Response:
    form = await form_of(request)
    actor = audit.user_actor(user.username)
    reason = form.get("reason", "")
    if form.get("action") == "end":
        problem = attempt(db, lambda: ab.end_challenger(db, disease, actor=actor, reason=reason))
        done = f"A/B test of {disease} ended."
    else:
        try:
            share = float(form.get("share_percent", "")) / 100
        except ValueError:
            share = math.nan
        problem = attempt(
            db,
            lambda: ab.set_challenger(
                db, disease, form.get("version", ""), share, reason=reason, actor=actor
            ),
        )
        done = f"{form.get('version')} now serves {share:.0%} of {disease} predictions."
    if problem:
        return see_other("/admin/models", error=problem, anchor=disease)
    return see_other("/admin/models", done, anchor=disease)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, user: WebScience, db: DbSession, settings: SettingsDep) -> Response:
    cap = settings.policy_epsilon_cap if math.isfinite(settings.policy_epsilon_cap) else None
    rows = []
    for hospital in accounts.list_hospitals(db):
        rows.append((hospital, contributions.spend_by_disease(db, hospital.id)))
    return render(request, "admin/privacy.html", user=user, rows=rows, cap=cap)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    user: WebAdmin,
    db: DbSession,
    before: int | None = None,
    action: str = "",
    actor: str = "",
) -> Response:
    return _audit_page(request, user, db, before=before, action=action, actor=actor)


@router.post("/audit/verify", response_class=HTMLResponse, dependencies=[CsrfChecked])
def verify(request: Request, user: WebAdmin, db: DbSession) -> Response:
    return _audit_page(request, user, db, verdict=audit.verify(db))


AUDIT_PAGE = 25


def _actor_query(typed: str) -> str | None:
    """People type a username ("admin"); the log stores "user:admin"."""
    typed = typed.strip()[:120]
    if not typed:
        return None
    if ":" in typed or typed in (audit.SYSTEM_ACTOR, audit.ANONYMOUS_ACTOR):
        return typed
    return audit.user_actor(typed)


def _audit_page(
    request: Request,
    user: Any,
    db: DbSession,
    *,
    before: int | None = None,
    action: str = "",
    actor: str = "",
    verdict: Any = None,
) -> Response:
    action = action.strip()[:64]
    events = audit.list_events(
        db,
        limit=AUDIT_PAGE + 1,
        before_seq=before,
        action=action or None,
        actor=_actor_query(actor),
    )
    return render(
        request,
        "admin/audit.html",
        user=user,
        events=events[:AUDIT_PAGE],
        older=events[AUDIT_PAGE - 1].seq if len(events) > AUDIT_PAGE else None,
        paged=before is not None,
        actions=sorted(item.value for item in AuditAction),
        action=action,
        actor=actor.strip()[:120],
        verdict=verdict,
    )


@router.get("/health", response_class=HTMLResponse)
def health(request: Request, user: WebAdmin, db: DbSession, settings: SettingsDep) -> Response:
    # Signing in touched the session row; commit it so the migration check's own connection
    # does not wait behind this request's write lock (SQLite has one writer).
    db.commit()
    try:
        migrations = migration_status(request.app.state.engine)
        database = (
            f"reachable; migrations at {migrations.current or 'none'} (head {migrations.head})"
        )
        healthy = migrations.is_current
    except SQLAlchemyError as problem:
        database, healthy = f"unreachable ({type(problem).__name__})", False

    def count(table: Any) -> int:
        return int(db.scalar(select(func.count()).select_from(table)) or 0)

    live = db.scalars(
        select(Round).where(Round.status.in_(("open", "training", "evaluating")))
    ).all()
    facts = [
        ("Software version", __version__),
        ("Database", database),
        ("Backend", request.app.state.engine.dialect.name),
        (
            "Round ticker",
            f"every {settings.round_tick_seconds:g} s"
            if settings.round_tick_seconds > 0
            else "off",
        ),
        ("Hospitals", str(count(Hospital))),
        ("Nodes enrolled", str(count(Node))),
        ("Live rounds", ", ".join(f"{r.disease} #{r.number} ({r.status})" for r in live) or "none"),
        ("Predictions served", str(count(Prediction))),
        ("Audit events", str(count(AuditEvent))),
    ]
    return render(request, "admin/health.html", user=user, facts=facts, healthy=healthy)
