"""`medfed campaigns`: start, follow, pause, resume and cancel training campaigns (server host).

The server's ticker opens the rounds; these commands only change what it will do next, through
the same services and checks as the API, and are audited under the command-line user.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from medfed.cli.context import cli_actor, console, database_session, settings_from
from medfed.core.errors import InvalidInput
from medfed.server.api.campaign_schemas import CampaignStartIn
from medfed.server.api.schemas import first_problem
from medfed.server.db.tables import Campaign
from medfed.server.services import accounts, campaigns

app = typer.Typer(
    help="Training campaigns: rounds the server opens by itself.", no_args_is_help=True
)


def _settings(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--set takes name=value, got {pair!r}.", field="set")
        found[key.strip()] = value.strip()
    return found


def _body(values: dict[str, Any]) -> CampaignStartIn:
    try:
        return CampaignStartIn.model_validate(values)
    except ValidationError as invalid:
        where, what = first_problem(invalid)
        raise InvalidInput(f"{where or 'campaign'}: {what}.", field=where or None) from None


def _describe(campaign: Campaign) -> None:
    summary = campaigns.summary(campaign)
    plan = campaigns.plan_of(campaign)
    measure = campaigns.config_of(campaign).metric
    console.print(
        f"Campaign [bold]{campaign.id}[/bold] ({campaign.disease}): {campaign.status}; "
        f"{summary.trained} of {plan.rounds} rounds trained, {summary.promotions} promoted, "
        f"{summary.skipped} skipped."
    )
    if campaign.reason:
        console.print(f"Ended: {campaign.reason}")
    elif campaign.waiting_for:
        when = (
            f" (at {campaign.next_check_at:%Y-%m-%d %H:%M} UTC)" if campaign.next_check_at else ""
        )
        console.print(f"Now: {campaign.waiting_for}{when}")
    if summary.epsilon_budget is not None:
        spent = ", ".join(f"{name} {eps:.2f}" for name, eps in sorted(summary.spent.items()))
        console.print(
            f"Privacy: ε {summary.epsilon_budget:g} per hospital for the whole campaign"
            + (f"; spent: {spent}" if spent else "")
        )
    table = Table("round", "status", f"line {measure}", "version")
    for round_ in campaign.rounds:
        value = campaigns.line_value(round_)
        table.add_row(
            str(round_.number),
            round_.status,
            "—" if value is None else f"{value:.3f}",
            round_.result_version.version if round_.result_version else "—",
        )
    if campaign.rounds:
        console.print(table)


@app.command("start")
def start(
    ctx: typer.Context,
    disease: Annotated[str, typer.Argument(help="Disease id, e.g. heart.")],
    rounds: Annotated[int, typer.Option(help="Rounds that train, at most.")] = 10,
    patience: Annotated[
        int, typer.Option(help="Stop after this many rounds without a new best; 0: never.")
    ] = 5,
    epsilon_budget: Annotated[
        float | None,
        typer.Option(help="DP ε per hospital for the whole campaign; omit for no DP."),
    ] = None,
    every: Annotated[
        float | None, typer.Option(help="Open a round every this many seconds.")
    ] = None,
    at: Annotated[
        list[datetime] | None,
        typer.Option(
            help="Open rounds at these UTC times (repeat the option).", formats=["%Y-%m-%dT%H:%M"]
        ),
    ] = None,
    strategy: Annotated[
        str, typer.Option(help="fedavg, fedprox, fedadam, fedyogi, ...")
    ] = "fedavg",
    min_hospitals: Annotated[int, typer.Option(help="Hospitals each round needs.")] = 3,
    plain: Annotated[
        bool, typer.Option("--plain", help="Secure aggregation off (administrator's opt-in).")
    ] = False,
    hospital: Annotated[
        list[str] | None,
        typer.Option(help="Only this hospital (name or id; repeat the option); default: any."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other round setting, e.g. --set local_epochs=3."),
    ] = None,
) -> None:
    """Start a campaign; the running server opens its first round within a tick."""
    schedule = "at" if at else "every" if every else "back_to_back"
    round_values: dict[str, Any] = {
        "strategy": strategy,
        "min_hospitals": min_hospitals,
        "secure": not plain,
        **_settings(set_ or []),
    }
    body = _body(
        {
            "disease": disease,
            "rounds": rounds,
            "patience": patience or None,
            "epsilon_budget": epsilon_budget,
            "schedule": schedule,
            "every_seconds": every,
            "times": [t.replace(tzinfo=UTC) for t in at or []],
            "round": round_values,
        }
    )
    with database_session(settings_from(ctx)) as session:
        config = body.round_config()
        if hospital:
            named = tuple(sorted({accounts.find_hospital(session, h).id for h in hospital}))
            config = replace(config, hospitals=named)
        campaign = campaigns.start(session, body.disease, body.plan(), config, actor=cli_actor())
        session.flush()
        _describe(campaign)


@app.command("list")
def list_campaigns(ctx: typer.Context) -> None:
    """Campaigns, newest first."""
    with database_session(settings_from(ctx)) as session:
        table = Table("id", "disease", "status", "rounds", "promoted", "now / ended")
        for campaign in campaigns.list_campaigns(session):
            summary = campaigns.summary(campaign)
            plan = campaigns.plan_of(campaign)
            table.add_row(
                str(campaign.id),
                campaign.disease,
                campaign.status,
                f"{summary.trained}/{plan.rounds}",
                str(summary.promotions),
                campaign.reason or campaign.waiting_for or "",
            )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, campaign_id: Annotated[int, typer.Argument()]) -> None:
    """One campaign: its plan, where it is, and its training line round by round."""
    with database_session(settings_from(ctx)) as session:
        _describe(campaigns.get_campaign(session, campaign_id))


@app.command("pause")
def pause(ctx: typer.Context, campaign_id: Annotated[int, typer.Argument()]) -> None:
    """No new round opens; a live round runs to its end."""
    with database_session(settings_from(ctx)) as session:
        _describe(campaigns.pause(session, campaign_id, actor=cli_actor()))


@app.command("resume")
def resume(ctx: typer.Context, campaign_id: Annotated[int, typer.Argument()]) -> None:
    with database_session(settings_from(ctx)) as session:
        _describe(campaigns.resume(session, campaign_id, actor=cli_actor()))


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
) -> None:
    """End the campaign; its live round is cancelled with the same reason."""
    with database_session(settings_from(ctx)) as session:
        _describe(campaigns.cancel(session, campaign_id, reason=reason, actor=cli_actor()))
