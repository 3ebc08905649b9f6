"""`medfed models`: the registry's versions, and training the v1.0 baselines."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medfed.cli.context import cli_actor, console, database_session, settings_from
from medfed.core.catalog import load_catalog
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.db.migrate import upgrade_to_head
from medfed.server.services import registry
from medfed.server.services.baselines import ensure_baselines
from medfed.server.storage import make_store

app = typer.Typer(help="Inspect model versions and train baselines.", no_args_is_help=True)


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every disease with its versions and held-out metrics."""
    settings = settings_from(ctx)
    table = Table(
        "disease",
        "version",
        "active",
        "architecture",
        "accuracy",
        "ROC AUC",
        "F1",
        "Brier",
        "source",
    )
    with database_session(settings) as session:
        for disease in load_catalog():
            for version in registry.versions(session, disease):
                m = version.metrics
                table.add_row(
                    disease,
                    version.version,
                    "yes" if version.is_active else "",
                    version.architecture,
                    f"{m.get('accuracy', 0):.3f}",
                    f"{m.get('roc_auc', 0):.3f}",
                    f"{m.get('f1', 0):.3f}",
                    f"{m.get('brier', 0):.3f}",
                    str(version.provenance.get("source", "")),
                )
    console.print(table)


@app.command()
def baselines(
    ctx: typer.Context,
    disease: Annotated[list[str] | None, typer.Option(help="Only these diseases.")] = None,
    untrained: Annotated[
        bool,
        typer.Option(
            help="Register v1.0 with fresh weights (baseline preprocessing, nothing learned): "
            "the honest start for a federated simulation on the public data."
        ),
    ] = False,
) -> None:
    """Train and register v1.0 for each disease that has no version yet (the server does this at start)."""
    settings = settings_from(ctx)
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade_to_head(engine)
        outcomes = ensure_baselines(
            make_session_factory(engine),
            make_store(settings),
            settings.datasets_dir,
            only=disease,
            untrained=untrained,
        )
    finally:
        engine.dispose()
    for name, outcome in outcomes.items():
        console.print(f"{name:<14} {outcome}")
    if any(outcome.startswith("skipped") for outcome in outcomes.values()):
        raise typer.Exit(1)


@app.command()
def activate(
    ctx: typer.Context,
    disease: Annotated[str, typer.Argument(help="Disease id, e.g. heart.")],
    version: Annotated[str, typer.Argument(help="Version to make active, e.g. v1.0.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")],
) -> None:
    """Roll back (or forward) to any deployed version."""
    with database_session(settings_from(ctx)) as session:
        activated = registry.activate(session, disease, version, reason=reason, actor=cli_actor())
        label = activated.version
    console.print(f"{disease} {label} is now active.")
