"""`medfed analytics`: ask the hospitals a question, follow it, read and export the released
figures (server host; the same services and checks as the API, audited under the CLI user)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from medfed.analytics import export
from medfed.cli.context import cli_actor, console, database_session, settings_from
from medfed.core.errors import InvalidInput
from medfed.server.api.analytics import query_public
from medfed.server.api.analytics_schemas import AnalyticsAskIn, AnalyticsQueryPublic
from medfed.server.api.schemas import first_problem
from medfed.server.services import analytics

app = typer.Typer(
    help="Federated analytics: population statistics from the hospitals, with DP noise.",
    no_args_is_help=True,
)


def _body(values: dict[str, Any]) -> AnalyticsAskIn:
    try:
        return AnalyticsAskIn.model_validate(values)
    except ValidationError as invalid:
        where, what = first_problem(invalid)
        raise InvalidInput(f"{where or 'query'}: {what}.", field=where or None) from None


def _describe(found: AnalyticsQueryPublic) -> None:
    scope = "per site, by name" if found.per_site else "network-wide, secure sum"
    what = found.kind + (f" of {found.query.get('feature')}" if found.query.get("feature") else "")
    by = found.query.get("breakdown")
    console.print(
        f"Query [bold]{found.id}[/bold] ({found.disease}): {what}"
        + (f" by {by}" if by else "")
        + f", {scope}, epsilon {found.query['epsilon']:g}: {found.status}"
        + (f" ({found.stage})" if found.stage else "")
    )
    if found.reason:
        console.print(found.reason)
    hospitals = Table("hospital", "status", "epsilon spent", "reason")
    for member in found.hospitals:
        spent = "" if member.epsilon is None else f"{member.epsilon:g}"
        hospitals.add_row(member.hospital, member.status, spent, member.reason or "")
    console.print(hospitals)
    if found.result:
        figures = Table(*export.COLUMNS[:6])
        for row in export.rows(found.result):
            figures.add_row(*(_cell(v) for v in row[:6]))
        console.print(figures)
        console.print(found.result["noise"]["statement"])


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command("ask")
def ask(
    ctx: typer.Context,
    disease: Annotated[str, typer.Argument(help="Disease id, e.g. heart.")],
    kind: Annotated[
        str, typer.Option(help="count, prevalence, mean, histogram, quantiles or missing.")
    ],
    feature: Annotated[str | None, typer.Option(help="The feature (mean, histogram…).")] = None,
    bins: Annotated[
        str | None, typer.Option(help="Bin edges, comma-separated, e.g. 20,40,60,80.")
    ] = None,
    breakdown: Annotated[
        str | None, typer.Option(help="Break down by this feature (a category or yes/no).")
    ] = None,
    bands: Annotated[
        str | None, typer.Option(help="Band edges for a number breakdown, e.g. 18,40,65,110.")
    ] = None,
    epsilon: Annotated[float, typer.Option(help="Each hospital's spend.")] = 1.0,
    mechanism: Annotated[str, typer.Option(help="gaussian or laplace (per site).")] = "gaussian",
    per_site: Annotated[
        bool, typer.Option("--per-site", help="Each hospital's figures by name, as allowed.")
    ] = False,
    hospital: Annotated[
        list[str] | None, typer.Option(help="Ask only this hospital (repeat); default: all.")
    ] = None,
    min_hospitals: Annotated[int, typer.Option(help="Hospitals that must answer.")] = 2,
    collect_seconds: Annotated[float, typer.Option(help="Time to agree or decline.")] = 120.0,
) -> None:
    """Ask every hospital with an active node (or those named); the running server releases
    the figures once they have answered."""

    def edges(text: str | None, what: str) -> list[float]:
        try:
            return [float(v) for v in text.split(",")] if text else []
        except ValueError:
            raise InvalidInput(f"--{what} takes numbers separated by commas.", field=what) from None

    body = _body(
        {
            "disease": disease,
            "kind": kind,
            "feature": feature,
            "bins": edges(bins, "bins"),
            "breakdown": breakdown,
            "bands": edges(bands, "bands"),
            "epsilon": epsilon,
            "mechanism": mechanism,
            "per_site": per_site,
            "hospitals": hospital or [],
            "min_hospitals": min_hospitals,
            "collect_seconds": collect_seconds,
        }
    )
    with database_session(settings_from(ctx)) as session:
        created = analytics.ask(session, body.asking(), actor=cli_actor())
        _describe(query_public(created))


@app.command("list")
def list_queries(ctx: typer.Context) -> None:
    """Queries, newest first."""
    with database_session(settings_from(ctx)) as session:
        table = Table("id", "disease", "kind", "scope", "status", "hospitals", "note")
        for query in analytics.list_queries(session):
            answered = sum(m.status == "answered" for m in query.members)
            table.add_row(
                str(query.id),
                query.disease,
                query.kind,
                "per site" if query.per_site else "network",
                query.status,
                f"{answered}/{len(query.members)} answered",
                query.reason or "",
            )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, query_id: Annotated[int, typer.Argument()]) -> None:
    """One query: who answered or declined (and why), and the released figures."""
    with database_session(settings_from(ctx)) as session:
        _describe(query_public(analytics.get_query(session, query_id)))


@app.command("export")
def export_query(
    ctx: typer.Context,
    query_id: Annotated[int, typer.Argument()],
    output: Annotated[Path, typer.Option(help="File to write.")],
    format: Annotated[str, typer.Option(help="csv or json.")] = "csv",
) -> None:
    """The released figures as CSV (one row per figure) or JSON."""
    if format not in ("csv", "json"):
        raise InvalidInput("--format is csv or json.", field="format")
    with database_session(settings_from(ctx)) as session:
        found = query_public(analytics.get_query(session, query_id))
    if found.result is None:
        raise InvalidInput(f"Query {query_id} is {found.status}: nothing was released.")
    text = found.model_dump_json(indent=2) if format == "json" else export.to_csv(found.result)
    output.write_text(text, encoding="utf-8")
    console.print(f"Wrote {output}.")


@app.command("cancel")
def cancel(ctx: typer.Context, query_id: Annotated[int, typer.Argument()]) -> None:
    with database_session(settings_from(ctx)) as session:
        _describe(query_public(analytics.cancel(session, query_id, actor=cli_actor())))


@app.command("standardise")
def standardise(
    ctx: typer.Context,
    disease: Annotated[str, typer.Argument(help="Disease id, e.g. heart.")],
    query: Annotated[
        list[int], typer.Option(help="A released network-wide mean query (repeat the option).")
    ],
) -> None:
    """A new version on the training line standardised by the network's released means and
    standard deviations (it predicts exactly as before; rounds continue from it)."""
    from medfed.server.services import standardisation
    from medfed.server.storage import make_store

    settings = settings_from(ctx)
    with database_session(settings) as session:
        version = standardisation.from_analytics(
            session, make_store(settings), disease, list(query), actor=cli_actor()
        )
        session.flush()
        console.print(
            f"{version.disease} {version.version} (trained, not served) standardises "
            + ", ".join(
                f"{name} by mean {m:.4g}, sd {s:.4g}"
                for name, (m, s) in sorted(version.provenance["centres"].items())
            )
            + f"; the next round continues from it (from {version.provenance['base']})."
        )
