"""Training campaigns: rounds the server opens by itself until a plan or a stopping rule ends."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medfed.server.api.campaign_schemas import (
    CampaignCancelIn,
    CampaignProgressPublic,
    CampaignPublic,
    CampaignRoundPublic,
    CampaignStartIn,
)
from medfed.server.bounds import IdPath
from medfed.server.db.tables import Campaign
from medfed.server.deps import (
    DbSession,
    Reading,
    ReadingScience,
    ScienceUser,
    check_plain_mode,
)
from medfed.server.services import audit, campaigns

router = APIRouter(tags=["campaigns"])


def campaign_public(campaign: Campaign) -> CampaignPublic:
    summary = campaigns.summary(campaign)
    return CampaignPublic(
        id=campaign.id,
        disease=campaign.disease,
        status=campaign.status,
        measure=campaigns.config_of(campaign).metric,
        plan=campaign.plan,
        round_config=campaign.round_config,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        finished_at=campaign.finished_at,
        reason=campaign.reason,
        waiting_for=campaign.waiting_for,
        next_check_at=campaign.next_check_at,
        progress=CampaignProgressPublic(
            trained=summary.trained,
            completed=summary.completed,
            promotions=summary.promotions,
            skipped=summary.skipped,
            best=summary.best,
            since_best=summary.since_best,
            best_version=summary.best_version,
            best_promoted=summary.best_promoted,
            epsilon_budget=summary.epsilon_budget,
            epsilon_spent=summary.spent,
        ),
        rounds=[
            CampaignRoundPublic(
                id=r.id,
                number=r.number,
                status=r.status,
                trained=r.cohort_fixed_at is not None,
                value=campaigns.line_value(r),
                promoted=r.status == "deployed",
                result_version=r.result_version.version if r.result_version else None,
                opened_at=r.opened_at,
                closed_at=r.closed_at,
            )
            for r in campaign.rounds
        ],
    )


@router.post("/campaigns", response_model=CampaignPublic, status_code=201)
def start_campaign(
    body: CampaignStartIn, admin: ScienceUser, db: DbSession, request: Request
) -> CampaignPublic:
    """Start a campaign; its first round opens on the server's next tick (or at start_at)."""
    check_plain_mode(admin, body.round_config().secure, db, request)
    started = campaigns.start(
        db, body.disease, body.plan(), body.round_config(), actor=audit.user_actor(admin.username)
    )
    return campaign_public(started)


# Reads run on a read-only session: a dashboard (or `medfed simulate`) that watches a campaign
# several times a second never queues behind the single SQLite writer.
@router.get("/campaigns", response_model=list[CampaignPublic])
async def list_campaigns(
    _: ReadingScience, reader: Reading, disease: str | None = None
) -> list[CampaignPublic]:
    return await reader.run_on_thread(
        lambda db: [campaign_public(c) for c in campaigns.list_campaigns(db, disease)]
    )


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
async def get_campaign(campaign_id: IdPath, _: ReadingScience, reader: Reading) -> CampaignPublic:
    return await reader.run_on_thread(
        lambda db: campaign_public(campaigns.get_campaign(db, campaign_id))
    )


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignPublic)
def pause_campaign(campaign_id: IdPath, admin: ScienceUser, db: DbSession) -> CampaignPublic:
    """No new round opens; a live round runs to its end."""
    return campaign_public(campaigns.pause(db, campaign_id, actor=audit.user_actor(admin.username)))


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignPublic)
def resume_campaign(campaign_id: IdPath, admin: ScienceUser, db: DbSession) -> CampaignPublic:
    return campaign_public(
        campaigns.resume(db, campaign_id, actor=audit.user_actor(admin.username))
    )


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignPublic)
def cancel_campaign(
    campaign_id: IdPath, body: CampaignCancelIn, admin: ScienceUser, db: DbSession
) -> CampaignPublic:
    """End the campaign; its live round is cancelled with the same reason."""
    return campaign_public(
        campaigns.cancel(
            db, campaign_id, reason=body.reason, actor=audit.user_actor(admin.username)
        )
    )
