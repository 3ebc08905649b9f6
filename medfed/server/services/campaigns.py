"""Training campaigns as administrators and the server's ticker see them.

Start, pause, resume and cancel are the administrator's; `advance` is the ticker's: in one
transaction that locks the campaign's row it reads the campaign's rounds, asks the pure rule
(`fl.campaigns.next_action`) what is due and does it (open the next round, note what it waits
for, or finish). The round opened and the link to its campaign commit together, and a disease
has at most one live round (a unique index), so a restarted server never opens a round twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import get_disease
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.core.faults import crash_point
from medfed.fl import campaigns as rule
from medfed.fl import rounds as machine
from medfed.server.db.engine import transaction
from medfed.server.db.tables import Campaign, CampaignRound, Round
from medfed.server.services import audit, rounds

logger = logging.getLogger("medfed.campaigns")


def actor_of(campaign: Campaign) -> str:
    return f"campaign:{campaign.id}"


def plan_of(campaign: Campaign) -> rule.CampaignPlan:
    return rule.CampaignPlan.from_dict(campaign.plan)


def config_of(campaign: Campaign) -> machine.RoundConfig:
    return machine.RoundConfig.from_dict(campaign.round_config)


def get_campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    """The campaign, with its rounds and their result versions loaded in two more statements
    (its progress is read from every round; one lazy load per round grew with the campaign)."""
    query = (
        select(Campaign)
        .where(Campaign.id == campaign_id)
        .options(selectinload(Campaign.rounds).joinedload(Round.result_version))
    )
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"There is no campaign {campaign_id}.", field="campaign_id")
    return found


def list_campaigns(session: Session, disease: str | None = None, limit: int = 50) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if disease:
        query = query.where(Campaign.disease == get_disease(disease).id)
    return list(session.scalars(query))


def campaign_of_round(session: Session, round_id: int) -> Campaign | None:
    return session.scalar(
        select(Campaign)
        .join(CampaignRound, CampaignRound.campaign_id == Campaign.id)
        .where(CampaignRound.round_id == round_id)
    )


def start(
    session: Session,
    disease: str,
    plan: rule.CampaignPlan,
    config: machine.RoundConfig,
    *,
    actor: str,
    now: datetime | None = None,
) -> Campaign:
    """Refuses impossible plans with the field named; the first round opens on the next tick."""
    spec = get_disease(disease)
    moment = now or utcnow()
    problems = plan.problems(moment)
    if problems:
        field, _ = problems[0]
        raise InvalidInput(
            "The campaign cannot start: " + "; ".join(text for _, text in problems) + ".",
            field=field,
        )
    # The campaign's budget covers all its rounds: the nodes set each round's noise so that
    # plan.rounds such rounds compose to it (ml/accounting.py).
    config = replace(config, target_epsilon=plan.epsilon_budget, budget_rounds=plan.rounds)
    round_problems = rounds.config_problems(config)
    if round_problems:
        raise InvalidInput("The campaign's rounds cannot run: " + "; ".join(round_problems) + ".")
    rounds.check_targets(session, config)
    active = session.scalar(
        select(Campaign).where(Campaign.disease == spec.id, Campaign.status.in_(rule.ACTIVE))
    )
    if active is not None:
        raise Conflict(
            f"{spec.title} campaign {active.id} is still {active.status}; cancel it first.",
            field="disease",
        )
    campaign = Campaign(
        disease=spec.id,
        status=rule.RUNNING,
        plan=plan.as_dict(),
        round_config=config.as_dict(),
        created_by=actor,
        created_at=moment,
        waiting_for="the first round opens shortly",
        next_check_at=plan.start_at or moment,
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.CAMPAIGN_STARTED,
        object=f"campaign:{campaign.id}",
        details={
            "disease": spec.id,
            "rounds": plan.rounds,
            "schedule": plan.schedule,
            "epsilon_budget": plan.epsilon_budget,
            "strategy": config.strategy,
        },
    )
    return campaign


def _set_status(
    session: Session,
    campaign_id: int,
    allowed: tuple[str, ...],
    target: str,
    action: AuditAction,
    *,
    actor: str,
    reason: str | None = None,
) -> Campaign:
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status not in allowed:
        raise Conflict(
            f"Campaign {campaign.id} is {campaign.status}; it cannot be {_past(target)}.",
            field="campaign_id",
        )
    campaign.status = target
    details: dict[str, Any] = {"disease": campaign.disease}
    if reason is not None:
        campaign.reason = reason[:500]
        details["reason"] = campaign.reason
    if target in (rule.FINISHED, rule.CANCELLED):
        campaign.finished_at = utcnow()
        campaign.next_check_at = None
    audit.record(
        session, actor=actor, action=action, object=f"campaign:{campaign.id}", details=details
    )
    return campaign


def _past(status: str) -> str:
    return {rule.RUNNING: "resumed", rule.PAUSED: "paused", rule.CANCELLED: "cancelled"}.get(
        status, status
    )


def pause(session: Session, campaign_id: int, *, actor: str) -> Campaign:
    """No new round opens; a live round runs to its end (its hospitals are already training)."""
    campaign = _set_status(
        session, campaign_id, (rule.RUNNING,), rule.PAUSED, AuditAction.CAMPAIGN_PAUSED, actor=actor
    )
    campaign.waiting_for = "paused: no new round opens until it is resumed"
    return campaign


def resume(session: Session, campaign_id: int, *, actor: str) -> Campaign:
    campaign = _set_status(
        session,
        campaign_id,
        (rule.PAUSED,),
        rule.RUNNING,
        AuditAction.CAMPAIGN_RESUMED,
        actor=actor,
    )
    campaign.waiting_for = "resumed: the next round opens when it is due"
    return campaign


def cancel(session: Session, campaign_id: int, *, reason: str, actor: str) -> Campaign:
    """Ends the campaign and cancels its live round, if any, with the same reason."""
    if len(reason.strip()) < 5:
        raise InvalidInput("Give a reason (at least 5 characters).", field="reason")
    campaign = _set_status(
        session,
        campaign_id,
        rule.ACTIVE,
        rule.CANCELLED,
        AuditAction.CAMPAIGN_CANCELLED,
        actor=actor,
        reason=f"cancelled: {reason.strip()}",
    )
    campaign.waiting_for = None
    for round_ in campaign.rounds:
        if round_.status in machine.LIVE:
            rounds.cancel(
                session,
                round_.id,
                reason=f"campaign {campaign.id} cancelled: {reason}",
                actor=actor,
            )
    return campaign


# Progress ------------------------------------------------------------------------------------


def line_value(round_: Round) -> float | None:
    """The candidate's measure on the training line: the cohort's federated evaluation when it
    reported, else the server's held-out rows."""
    metric = round_.config.get("metric", "accuracy")
    evaluation = round_.evaluation or {}
    for source in (evaluation.get("federated"), evaluation.get("server")):
        value = ((source or {}).get("candidate") or {}).get(metric)
        if value is not None:
            return float(value)
    return None


def outcome_of(round_: Round) -> rule.RoundOutcome:
    status = (
        "live"
        if round_.status in machine.LIVE
        else "failed"
        if round_.status == machine.FAILED
        else "completed"
    )
    return rule.RoundOutcome(
        status=status,
        trained=round_.cohort_fixed_at is not None,
        opened_at=round_.opened_at,
        closed_at=round_.closed_at,
        value=line_value(round_) if status == "completed" else None,
        promoted=round_.status == machine.DEPLOYED,
        version=round_.result_version.version if round_.result_version else None,
    )


def snapshot(session: Session, campaign: Campaign) -> rule.CampaignSnapshot:
    own = {r.id for r in campaign.rounds}
    live = rounds.live_round(session, campaign.disease)
    return rule.CampaignSnapshot(
        status=campaign.status,
        plan=plan_of(campaign),
        created_at=campaign.created_at,
        measure=config_of(campaign).metric,
        rounds=tuple(outcome_of(r) for r in campaign.rounds),
        other_round_live=live is not None and live.id not in own,
    )


@dataclass(frozen=True)
class Summary:
    """What the pages and the API show of a campaign's progress."""

    trained: int
    completed: int
    promotions: int
    skipped: int
    best: float | None
    since_best: int
    best_version: str | None  # the best checkpoint so far on the campaign's training line
    best_promoted: bool
    epsilon_budget: float | None  # per hospital, whole campaign
    spent: dict[str, float]  # hospital name -> epsilon its node charged for this campaign


def summary(campaign: Campaign) -> Summary:
    snap_rounds = tuple(outcome_of(r) for r in campaign.rounds)
    config = config_of(campaign)
    progress = rule.line_progress(snap_rounds, config.metric)
    spent: dict[str, float] = {}
    for round_ in campaign.rounds:
        if round_.config.get("target_epsilon") is None:
            continue
        for member in round_.members:
            # What the node reported charging its ledger for this round's update (the
            # increase of its composed total): these add up to the campaign's spend.
            epsilon = member.contribution.epsilon if member.contribution else None
            if epsilon is not None:
                name = member.hospital.name
                spent[name] = spent.get(name, 0.0) + float(epsilon)
    return Summary(
        trained=rule.trained_rounds(snap_rounds),
        completed=sum(r.status == "completed" for r in snap_rounds),
        promotions=sum(r.promoted for r in snap_rounds),
        skipped=sum(r.status == "failed" and not r.trained for r in snap_rounds),
        best=progress.best,
        since_best=progress.since_best,
        best_version=progress.best_version,
        best_promoted=progress.best_promoted,
        epsilon_budget=plan_of(campaign).epsilon_budget,
        spent=spent,
    )


# The ticker's side ---------------------------------------------------------------------------


def advance(
    factory: sessionmaker[Session],
    campaign_id: int,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> str | None:
    """Do what is due for one campaign; returns "opened", "finished" or None."""
    moment = now or utcnow()
    with transaction(factory) as session:
        campaign = get_campaign(session, campaign_id, lock=True)
        action = rule.next_action(snapshot(session, campaign), moment)
        if action is None:
            live = next((r for r in campaign.rounds if r.status in machine.LIVE), None)
            if live is not None and campaign.status == rule.RUNNING:
                campaign.waiting_for = _waiting_for_round(live.number, live.status)
                campaign.next_check_at = None
            return None
        if action.kind == "finish":
            campaign.status = rule.FINISHED
            campaign.reason = action.reason[:500]
            campaign.finished_at = moment
            campaign.next_check_at = None
            campaign.waiting_for = None
            audit.record(
                session,
                actor=audit.SYSTEM_ACTOR,
                action=AuditAction.CAMPAIGN_FINISHED,
                object=f"campaign:{campaign.id}",
                details={"disease": campaign.disease, "reason": campaign.reason},
            )
            return rule.FINISHED
        if action.kind == "wait":
            campaign.waiting_for = action.reason[:200]
            campaign.next_check_at = action.at
            return None
        round_ = rounds.open_round(
            session, campaign.disease, config_of(campaign), actor=actor_of(campaign)
        )
        session.add(CampaignRound(round_id=round_.id, campaign_id=campaign.id))
        campaign.waiting_for = f"round {round_.number} is open ({action.reason})"
        campaign.next_check_at = None
        session.flush()
        if settings is not None:
            crash_point(settings, "campaign:after_open")
        return "opened"


def _waiting_for_round(number: int, status: str) -> str:
    return f"round {number} is {status}"


def advance_all(
    factory: sessionmaker[Session],
    now: datetime | None = None,
    settings: Settings | None = None,
    reader: sessionmaker[Session] | None = None,
) -> dict[int, str]:
    """Advance every running campaign; `reader` (read-only sessions) finds them.

    A campaign whose round is live has nothing due (`rule.next_action`); it is passed over
    without a write once its "waiting for" line names the round's status."""
    with (reader or factory)() as session:
        running = dict(
            session.execute(
                select(Campaign.id, Campaign.waiting_for).where(Campaign.status == rule.RUNNING)
            ).all()
        )
        live = session.execute(
            select(CampaignRound.campaign_id, Round.number, Round.status)
            .join(Round, Round.id == CampaignRound.round_id)
            .where(CampaignRound.campaign_id.in_(running), Round.status.in_(machine.LIVE))
        )
        settled = {
            campaign_id
            for campaign_id, number, status in live
            if running[campaign_id] == _waiting_for_round(number, status)
        }
    moved: dict[int, str] = {}
    for campaign_id in running.keys() - settled:
        try:
            result = advance(factory, campaign_id, now, settings)
        except Conflict as refused:  # e.g. a round opened by hand a moment ago
            logger.info("campaign %s waits: %s", campaign_id, refused.message)
            continue
        except Exception:  # one broken campaign must not stop the others
            logger.exception("campaign %s could not advance", campaign_id)
            continue
        if result is not None:
            moved[campaign_id] = result
    return moved
