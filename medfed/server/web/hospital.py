"""Hospital staff pages on the server: contribution history, privacy spent, the leaderboard."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from medfed.core.catalog import load_catalog
from medfed.core.errors import PermissionDenied
from medfed.server.deps import DbSession, SettingsDep
from medfed.server.services import accounts, audit, contributions, participation
from medfed.server.web.render import form_of, render, see_other
from medfed.server.web.session import CsrfChecked, WebStaff, WebUser

router = APIRouter(include_in_schema=False)


@router.get("/hospital", response_class=HTMLResponse)
def contributions_page(
    request: Request, user: WebStaff, db: DbSession, settings: SettingsDep, notice: str = ""
) -> Response:
    if user.hospital_id is None:
        raise PermissionDenied(
            "This page shows one hospital's contributions; your account belongs to no hospital. "
            "Administrators see every hospital under Privacy and Rounds."
        )
    hospital = accounts.get_hospital(db, user.hospital_id)
    spend = contributions.spend_by_disease(db, hospital.id)
    cap = settings.policy_epsilon_cap if math.isfinite(settings.policy_epsilon_cap) else None
    return render(
        request,
        "hospital/contributions.html",
        user=user,
        hospital=hospital,
        history=participation.history(db, hospital.id),
        spend=spend,
        cap=cap,
        nodes=accounts.list_nodes(db, hospital.id),
        titles={d: s.title for d, s in load_catalog().items()},
        notice=notice[:200],
    )


@router.post("/hospital/leaderboard", dependencies=[CsrfChecked])
async def leaderboard_choice(request: Request, user: WebStaff, db: DbSession) -> Response:
    if user.hospital_id is None:
        raise PermissionDenied("Your account belongs to no hospital.")
    show = (await form_of(request)).get("show") == "yes"
    hospital = accounts.get_hospital(db, user.hospital_id)
    participation.set_leaderboard_choice(db, hospital, show, actor=audit.user_actor(user.username))
    wording = "named on" if show else "anonymous on"
    return see_other("/hospital", f"Your hospital is now {wording} the leaderboard.")


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard(request: Request, user: WebUser, db: DbSession) -> Response:
    return render(
        request, "hospital/leaderboard.html", user=user, board=participation.leaderboard(db)
    )
