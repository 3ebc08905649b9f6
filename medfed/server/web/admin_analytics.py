"""Pages for federated analytics: ask the hospitals a question, follow who answered, read the
released figures as tables and charts, export them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from medfed.analytics import export
from medfed.analytics.query import KINDS
from medfed.core.catalog import load_catalog
from medfed.server.api.analytics import query_public
from medfed.server.api.analytics_schemas import AnalyticsAskIn
from medfed.server.api.schemas import first_problem
from medfed.server.bounds import IdPath
from medfed.server.db.analytics_tables import AnalyticsQuery
from medfed.server.deps import DbSession
from medfed.server.services import analytics, audit
from medfed.server.web import analytics_charts
from medfed.server.web.render import attempt, form_of, render, see_other
from medfed.server.web.session import CsrfChecked, WebScience

router = APIRouter(prefix="/admin/analytics", include_in_schema=False)
DEFAULTS = {"disease": "heart", "kind": "histogram", "feature": "age", "bins": "20,40,50,60,70,80",
            "epsilon": "1", "mechanism": "gaussian", "min_hospitals": "2",
            "collect_seconds": "120"}  # fmt: skip


def _numbers(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _body(values: dict[str, str]) -> dict[str, Any]:
    """The form as the API's request body; empty fields take their defaults."""
    body: dict[str, Any] = {
        "disease": values.get("disease", ""),
        "kind": values.get("kind", ""),
        "per_site": values.get("per_site") == "yes",
        "mechanism": values.get("mechanism") or "gaussian",
    }
    for name in ("feature", "breakdown"):
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    for name in ("bins", "bands"):
        body[name] = _numbers(values.get(name, ""))
    names = [n.strip() for n in values.get("hospitals", "").split(",") if n.strip()]
    if names:
        body["hospitals"] = names
    for name in ("epsilon", "min_hospitals", "collect_seconds"):
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    return body


def _page(request: Request, user: Any, db: DbSession, **context: Any) -> Response:
    context.setdefault("values", DEFAULTS)
    catalog = load_catalog()
    return render(
        request,
        "admin/analytics.html",
        user=user,
        queries=analytics.list_queries(db),
        diseases=catalog,
        kinds=KINDS,
        features={d: [f.name for f in spec.features] for d, spec in catalog.items()},
        **context,
    )


@router.get("", response_class=HTMLResponse)
def analytics_page(request: Request, user: WebScience, db: DbSession, notice: str = "") -> Response:
    return _page(request, user, db, notice=notice[:200])


@router.post("", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def ask(request: Request, user: WebScience, db: DbSession) -> Response:
    values = await form_of(request)
    try:
        parsed = AnalyticsAskIn.model_validate(_body(values))
    except ValidationError as invalid:
        where, what = first_problem(invalid)
        message = f"{(where or 'form').replace('_', ' ')}: {what}"
        return _page(request, user, db, values=values, problem=message, status=422)
    asked: list[AnalyticsQuery] = []
    problem = attempt(
        db,
        lambda: asked.append(
            analytics.ask(db, parsed.asking(), actor=audit.user_actor(user.username))
        ),
    )
    if problem:
        return _page(request, user, db, values=values, problem=problem, status=422)
    return see_other(
        f"/admin/analytics/{asked[0].id}",
        "Asked: each hospital's node answers under its own policy.",
    )


def _charts(query: AnalyticsQuery) -> list[str]:
    """The charts a released result allows (none for counts, means and missing rates: their
    table says it all)."""
    result = query.result or {}
    cells = result.get("network", {}).get("cells", [])
    shown = [c for c in cells if not c.get("suppressed")]
    charts: list[str] = []
    feature = query.query.get("feature") or ""
    if query.kind == "histogram" and shown:
        scopes = result.get("sites") or {}
        for index, cell in enumerate(cells):
            if cell.get("suppressed"):
                continue
            labels = [f"{b['from']:g} to {b['to']:g}" for b in cell["bins"]]
            series = {"all hospitals": [b["count"] for b in cell["bins"]]}
            for site, site_cells in sorted(scopes.items()):
                own = site_cells[index]
                if not own.get("suppressed"):
                    series[site] = [b["count"] for b in own["bins"]]
            title = f"{feature}: {cell['label']}" if len(cells) > 1 else f"{feature} by bin"
            charts.append(analytics_charts.histogram_chart(title, labels, series))
    if query.kind == "prevalence" and shown:
        for outcome in range(len(shown[0]["outcomes"])):
            name = shown[0]["outcomes"][outcome]["outcome"]
            charts.append(
                analytics_charts.prevalence_chart(
                    f"Prevalence of {name}",
                    [c["label"] for c in shown],
                    [c["outcomes"][outcome]["prevalence"] for c in shown],
                    [c["outcomes"][outcome]["ci95"] for c in shown],
                )
            )
    distances = {k: v for k, v in (result.get("site_differences") or {}).items() if v is not None}
    if distances:
        charts.append(analytics_charts.difference_chart(distances))
    return charts


@router.get("/{query_id}", response_class=HTMLResponse)
def query_page(
    request: Request, query_id: IdPath, user: WebScience, db: DbSession, notice: str = "",
    error: str = "",
) -> Response:  # fmt: skip
    query = analytics.get_query(db, query_id)
    public = query_public(query)
    return render(
        request,
        "admin/analytics_query.html",
        user=user,
        query=public,
        figures=list(export.rows(query.result or {})),
        columns=export.COLUMNS,
        charts=_charts(query),
        live=query.status in analytics.LIVE,
        notice=notice[:200],
        error=error[:300],
    )


@router.get("/{query_id}/export.csv")
def export_csv(query_id: IdPath, user: WebScience, db: DbSession) -> Response:
    query = analytics.get_query(db, query_id)
    return Response(
        export.to_csv(query.result or {}),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="medfed-analytics-{query_id}.csv"'},
    )


@router.get("/{query_id}/export.json")
def export_json(query_id: IdPath, user: WebScience, db: DbSession) -> Response:
    found = query_public(analytics.get_query(db, query_id))
    return Response(
        found.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="medfed-analytics-{query_id}.json"'},
    )


@router.post("/{query_id}/cancel", dependencies=[CsrfChecked])
async def cancel(request: Request, query_id: IdPath, user: WebScience, db: DbSession) -> Response:
    problem = attempt(
        db, lambda: analytics.cancel(db, query_id, actor=audit.user_actor(user.username))
    )
    if problem:
        return see_other(f"/admin/analytics/{query_id}", error=problem)
    return see_other(f"/admin/analytics/{query_id}", "Query cancelled.")
