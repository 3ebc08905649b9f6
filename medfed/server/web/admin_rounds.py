"""Administrator pages for federated rounds: open and configure, follow progress, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from medfed.core.catalog import load_catalog
from medfed.fl.rounds import RoundConfig
from medfed.server.api.round_schemas import RoundOpenIn
from medfed.server.api.schemas import first_problem
from medfed.server.bounds import IdPath
from medfed.server.db.tables import Round
from medfed.server.deps import DbSession, check_plain_mode
from medfed.server.services import accounts, audit, rounds, secagg
from medfed.server.web.render import attempt, form_of, render, see_other
from medfed.server.web.session import CsrfChecked, WebScience
from medfed.server.web.words import LEARNING_RATE_HINT

router = APIRouter(prefix="/admin/rounds", include_in_schema=False)
STEPS = ("open", "training", "evaluating", "decided")
LIVE = ("open", "training", "evaluating")
FORM_FIELDS = (
    "strategy",
    "min_hospitals",
    "max_hospitals",
    "min_rows",
    "local_epochs",
    "batch_size",
    "learning_rate",
    "validation_fraction",
    "proximal_mu",
    "norm_bound",
    "join_seconds",
    "grace_seconds",
    "submit_seconds",
    "metric",
    "tolerance",
    "confidence",
)


def progress(round_: Round) -> dict[str, Any]:
    """Where the round is: its step, and how many members have done their part of it."""
    members = list(round_.members)
    submitted = [m for m in members if m.status in ("submitted", "evaluated")]
    step = round_.status if round_.status in LIVE else "decided"
    detail: dict[str, Any] = {"step": step, "members": len(members), "submitted": len(submitted)}
    if round_.status == "training" and round_.secagg:
        state = round_.secagg
        detail["stage"] = state.get("stage")
    total = len(members) or 1
    done = {"open": 0.0, "training": len(submitted) / total, "evaluating": 1.0}.get(step, 1.0)
    detail["percent"] = round((STEPS.index(step) + done) / len(STEPS) * 100)
    return detail


SHOWN_METRICS = ("accuracy", "roc_auc", "brier")


def _compared(
    base: dict[str, Any], candidate: dict[str, Any], names: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        if base.get(name) is None or candidate.get(name) is None:
            continue
        rows.append(
            {
                "metric": name,
                "base": float(base[name]),
                "candidate": float(candidate[name]),
                "change": float(candidate[name]) - float(base[name]),
            }
        )
    return rows


def validation(round_: Round) -> dict[str, Any]:
    """Every piece of evidence the gate weighed, side by side: the server's held-out rows, the
    cohort's federated evaluation (what hospitals' own validation rows said), and each hospital."""
    evaluation = round_.evaluation or {}
    server, federated = evaluation.get("server"), evaluation.get("federated")
    return {
        "gate_metric": round_.config.get("metric", "accuracy"),
        "tolerance": round_.config.get("tolerance"),
        "confidence": round_.config.get("confidence"),
        # Rounds before the training line compared the candidate with their base.
        "compared_with": evaluation.get("served_version") or round_.base_version.version,
        "promotion": evaluation.get("promotion"),
        "server": server
        and {
            "rows": (server.get("served") or server["base"]).get("rows"),
            "metrics": _compared(
                server.get("served") or server["base"], server["candidate"], SHOWN_METRICS
            ),
        },
        "federated": federated
        and {
            "rows": federated.get("rows"),
            "hospitals": federated.get("hospitals"),
            "metrics": _compared(federated["base"], federated["candidate"], SHOWN_METRICS),
        },
        "hospitals": [
            {
                "name": member.hospital.name,
                "rows": member.evaluation.get("rows"),
                "metrics": _compared(
                    member.evaluation.get("base", {}),
                    member.evaluation.get("candidate", {}),
                    SHOWN_METRICS,
                ),
            }
            for member in round_.members
            if member.evaluation
        ],
    }


def _defaults() -> dict[str, str]:
    config = RoundConfig()
    values = {name: str(getattr(config, name)) for name in FORM_FIELDS}
    values["learning_rate"] = ""  # blank: the default for the round's privacy
    values["target_epsilon"] = str(config.target_epsilon)
    values["local_steps"] = str(config.local_steps or "none")
    values["secure"] = "yes" if config.secure else "no"
    return values


def _targets(db: DbSession, ids: list[int] | None) -> list[str] | None:
    """The names of the hospitals a round is for (None: any hospital)."""
    if not ids:
        return None
    names = {h.id: h.name for h in accounts.list_hospitals(db)}
    return [names.get(i, f"hospital {i}") for i in ids]


def _target(key: str, value: str) -> bool:
    """A ticked hospital of the form's "only these hospitals" boxes."""
    return key.startswith("hospital-") and key[9:].isdigit() and value == "yes"


def _page(request: Request, user: Any, db: DbSession, **context: Any) -> Response:
    context.setdefault("values", _defaults())
    context.setdefault("hospitals", [h for h in accounts.list_hospitals(db) if h.is_active])
    context.setdefault("learning_rate_hint", LEARNING_RATE_HINT)
    listed = rounds.list_rounds(db)
    return render(
        request,
        "admin/rounds.html",
        user=user,
        rounds=listed,
        progress={r.id: progress(r) for r in listed},
        diseases=load_catalog(),
        **context,
    )


@router.get("", response_class=HTMLResponse)
def rounds_page(request: Request, user: WebScience, db: DbSession, notice: str = "") -> Response:
    return _page(request, user, db, notice=notice[:200])


@router.post("", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def open_round(request: Request, user: WebScience, db: DbSession) -> Response:
    values = await form_of(request)
    body: dict[str, Any] = {
        name: values[name] for name in FORM_FIELDS if values.get(name, "") != ""
    }
    body["disease"] = values.get("disease", "")
    epsilon = values.get("target_epsilon", "").strip()
    body["target_epsilon"] = None if epsilon in ("", "none") else epsilon
    steps = values.get("local_steps", "").strip()
    body["local_steps"] = None if steps.lower() in ("", "none") else steps
    body["secure"] = values.get("secure") == "yes"
    check_plain_mode(user, body["secure"], db, request)
    named = [int(key.split("-", 1)[1]) for key, value in values.items() if _target(key, value)]
    body["hospitals"] = named or None
    try:
        parsed = RoundOpenIn.model_validate(body)
    except ValidationError as invalid:
        where, what = first_problem(invalid)
        message = f"{(where or 'form').replace('_', ' ')}: {what}"
        return _page(request, user, db, values=values, problem=message, status=422)
    opened: list[Round] = []
    problem = attempt(
        db,
        lambda: opened.append(
            rounds.open_round(
                db,
                parsed.disease,
                RoundConfig.from_dict(parsed.model_dump(exclude={"disease"})),
                actor=audit.user_actor(user.username),
            )
        ),
    )
    if problem:
        return _page(request, user, db, values=values, problem=problem, status=409)
    return see_other(f"/admin/rounds/{opened[0].id}", "Round opened: nodes can join now.")


@router.get("/{round_id}", response_class=HTMLResponse)
def round_page(
    request: Request,
    round_id: IdPath,
    user: WebScience,
    db: DbSession,
    notice: str = "",
    error: str = "",
) -> Response:
    round_ = rounds.get_round(db, round_id)
    stage = None
    if round_.status == "training" and round_.secagg:
        stage = secagg.snapshot(db, round_)
    return render(
        request,
        "admin/round.html",
        user=user,
        round=round_,
        progress=progress(round_),
        steps=STEPS,
        stage=stage,
        validation=validation(round_),
        targets=_targets(db, round_.config.get("hospitals")),
        live=round_.status in LIVE,
        notice=notice[:200],
        error=error[:300],
    )


@router.post("/{round_id}/cancel", dependencies=[CsrfChecked])
async def cancel(request: Request, round_id: IdPath, user: WebScience, db: DbSession) -> Response:
    reason = (await form_of(request)).get("reason", "")
    problem = attempt(
        db,
        lambda: rounds.cancel(db, round_id, reason=reason, actor=audit.user_actor(user.username)),
    )
    if problem:
        return see_other(f"/admin/rounds/{round_id}", error=problem)
    return see_other(f"/admin/rounds/{round_id}", "Round cancelled.")
