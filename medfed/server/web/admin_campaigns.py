"""Administrator pages for training campaigns: start one, follow its training line, pause,
resume or cancel it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from medfed.core.catalog import load_catalog
from medfed.fl.buffered import BufferSettings
from medfed.fl.campaigns import CampaignPlan
from medfed.fl.rounds import RoundConfig
from medfed.server.api.campaign_schemas import CampaignStartIn
from medfed.server.api.schemas import first_problem
from medfed.server.bounds import IdPath
from medfed.server.db.tables import Campaign
from medfed.server.deps import DbSession, check_plain_mode
from medfed.server.services import audit, buffered, campaigns
from medfed.server.web import charts, words
from medfed.server.web.render import attempt, form_of, render, see_other
from medfed.server.web.session import CsrfChecked, WebAdmin, WebScience
from medfed.server.web.words import LEARNING_RATE_HINT

router = APIRouter(prefix="/admin/campaigns", include_in_schema=False)
ROUND_FIELDS = (
    "strategy",
    "min_hospitals",
    "min_rows",
    "grace_seconds",
    "local_epochs",
    "learning_rate",
    "validation_fraction",
    "metric",
)


def _defaults() -> dict[str, str]:
    plan, config = CampaignPlan(), RoundConfig()
    values = {name: str(getattr(config, name)) for name in ROUND_FIELDS}
    values["learning_rate"] = ""  # blank: the default for the round's privacy
    values.update(
        rounds=str(plan.rounds),
        patience=str(plan.patience),
        epsilon_budget=str(plan.rounds * (config.target_epsilon or 1)),
        schedule=plan.schedule,
        every_minutes="60",
        secure="yes",
        local_steps=str(config.local_steps or "none"),
    )
    return values


def _body(values: dict[str, str]) -> dict[str, Any]:
    """The form as the API's request body; empty fields take their defaults."""
    round_values: dict[str, Any] = {
        name: values[name] for name in ROUND_FIELDS if values.get(name, "").strip()
    }
    round_values["secure"] = values.get("secure") == "yes"
    steps = values.get("local_steps", "").strip()
    round_values["local_steps"] = None if steps.lower() in ("", "none") else steps
    body: dict[str, Any] = {
        "disease": values.get("disease", ""),
        "schedule": values.get("schedule") or "back_to_back",
        "round": round_values,
    }
    for name in ("rounds", "patience", "epsilon_budget"):
        text = values.get(name, "").strip()
        body[name] = None if text.lower() in ("", "none") else text
    if body["rounds"] is None:
        body.pop("rounds")
    if body["schedule"] == "every":
        minutes = values.get("every_minutes", "").strip()
        try:
            body["every_seconds"] = float(minutes) * 60 if minutes else None
        except ValueError:
            body["every_seconds"] = minutes  # let validation name it
    times = [
        t.strip() for t in values.get("times", "").replace(",", "\n").splitlines() if t.strip()
    ]
    if times:
        body["times"] = [t if "+" in t or t.endswith("Z") else t + "+00:00" for t in times]
    start_at = values.get("start_at", "").strip()
    if start_at:
        body["start_at"] = (
            start_at if "+" in start_at or start_at.endswith("Z") else start_at + "+00:00"
        )
    return body


def _page(request: Request, user: Any, db: DbSession, **context: Any) -> Response:
    context.setdefault("values", _defaults())
    context.setdefault("learning_rate_hint", LEARNING_RATE_HINT)
    listed = campaigns.list_campaigns(db)
    return render(
        request,
        "admin/campaigns.html",
        user=user,
        campaigns=listed,
        summaries={c.id: campaigns.summary(c) for c in listed},
        plans={c.id: campaigns.plan_of(c) for c in listed},
        buffers=buffered.states(db),
        diseases=load_catalog(),
        **context,
    )


@router.get("", response_class=HTMLResponse)
def campaigns_page(
    request: Request, user: WebScience, db: DbSession, notice: str = "", error: str = ""
) -> Response:
    return _page(request, user, db, notice=notice[:200], error=error[:300])


@router.post("", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def start_campaign(request: Request, user: WebScience, db: DbSession) -> Response:
    values = await form_of(request)
    try:
        parsed = CampaignStartIn.model_validate(_body(values))
    except ValidationError as invalid:
        where, what = first_problem(invalid, skip=("round",))
        message = f"{(where or 'form').replace('_', ' ')}: {what}"
        return _page(request, user, db, values=values, problem=message, status=422)
    check_plain_mode(user, parsed.round_config().secure, db, request)
    started: list[Campaign] = []
    problem = attempt(
        db,
        lambda: started.append(
            campaigns.start(
                db,
                parsed.disease,
                parsed.plan(),
                parsed.round_config(),
                actor=audit.user_actor(user.username),
            )
        ),
    )
    if problem:
        return _page(request, user, db, values=values, problem=problem, status=422)
    return see_other(
        f"/admin/campaigns/{started[0].id}", "Campaign started: its first round opens shortly."
    )


def _line(campaign: Campaign) -> dict[str, Any]:
    completed = [r for r in campaign.rounds if r.status in ("deployed", "rejected")]
    values = [campaigns.line_value(r) for r in completed]
    measure = words.metric(campaigns.config_of(campaign).metric)
    if not completed:
        return {"chart": None, "measure": measure}
    labels = [f"round {r.number}" for r in completed]
    promoted = [
        v if r.status == "deployed" else None for r, v in zip(completed, values, strict=True)
    ]
    return {
        "chart": charts.training_line_chart(labels, values, promoted, measure),
        "measure": measure,
    }


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request,
    campaign_id: IdPath,
    user: WebScience,
    db: DbSession,
    notice: str = "",
    error: str = "",
) -> Response:
    campaign = campaigns.get_campaign(db, campaign_id)
    return render(
        request,
        "admin/campaign.html",
        user=user,
        campaign=campaign,
        plan=campaigns.plan_of(campaign),
        config=campaigns.config_of(campaign),
        summary=campaigns.summary(campaign),
        line=_line(campaign),
        values={r.id: campaigns.line_value(r) for r in campaign.rounds},
        live=campaign.status in ("running", "paused"),
        notice=notice[:200],
        error=error[:300],
    )


async def _change(
    request: Request, campaign_id: int, user: Any, db: DbSession, what: str
) -> Response:
    actor = audit.user_actor(user.username)
    if what == "cancel":
        reason = (await form_of(request)).get("reason", "")
        problem = attempt(db, lambda: campaigns.cancel(db, campaign_id, reason=reason, actor=actor))
    elif what == "pause":
        problem = attempt(db, lambda: campaigns.pause(db, campaign_id, actor=actor))
    else:
        problem = attempt(db, lambda: campaigns.resume(db, campaign_id, actor=actor))
    if problem:
        return see_other(f"/admin/campaigns/{campaign_id}", error=problem)
    done = {
        "cancel": "Campaign cancelled.",
        "pause": "Campaign paused.",
        "resume": "Campaign resumed.",
    }
    return see_other(f"/admin/campaigns/{campaign_id}", done[what])


@router.post("/{campaign_id}/pause", dependencies=[CsrfChecked])
async def pause(request: Request, campaign_id: IdPath, user: WebScience, db: DbSession) -> Response:
    return await _change(request, campaign_id, user, db, "pause")


@router.post("/{campaign_id}/resume", dependencies=[CsrfChecked])
async def resume(
    request: Request, campaign_id: IdPath, user: WebScience, db: DbSession
) -> Response:
    return await _change(request, campaign_id, user, db, "resume")


@router.post("/{campaign_id}/cancel", dependencies=[CsrfChecked])
async def cancel(
    request: Request, campaign_id: IdPath, user: WebScience, db: DbSession
) -> Response:
    return await _change(request, campaign_id, user, db, "cancel")


@router.post("/buffers", dependencies=[CsrfChecked])
async def enable_buffer(request: Request, user: WebAdmin, db: DbSession) -> Response:
    values = await form_of(request)
    if values.get("plain_mode_acknowledged") != "yes":
        return see_other(
            "/admin/campaigns",
            error="Tick the box that accepts plain mode: buffered updates are not securely "
            "aggregated, the server sees each one.",
            anchor="buffers",
        )
    try:
        settings = BufferSettings(
            size=int(values.get("size") or 3), max_staleness=int(values.get("max_staleness") or 5)
        )
    except ValueError:
        return see_other(
            "/admin/campaigns", error="Size and staleness are whole numbers.", anchor="buffers"
        )
    disease = values.get("disease", "")
    problem = attempt(
        db, lambda: buffered.enable(db, disease, settings, actor=audit.user_actor(user.username))
    )
    if problem:
        return see_other("/admin/campaigns", error=problem, anchor="buffers")
    return see_other("/admin/campaigns", "Buffered contributions are on.", anchor="buffers")


@router.post("/buffers/{disease}/disable", dependencies=[CsrfChecked])
async def disable_buffer(request: Request, disease: str, user: WebAdmin, db: DbSession) -> Response:
    found: list[int] = []
    problem = attempt(
        db,
        lambda: found.append(buffered.disable(db, disease, actor=audit.user_actor(user.username))),
    )
    if problem:
        return see_other("/admin/campaigns", error=problem, anchor="buffers")
    return see_other(
        "/admin/campaigns",
        f"Buffered contributions are off; {found[0]} waiting were discarded.",
        anchor="buffers",
    )
