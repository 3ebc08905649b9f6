"""`medfed node analytics`: the analytics queries this hospital answered or declined, its
analytics budget (apart from training's), and approving a query its policy holds back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medfed.cli.context import console, settings_from
from medfed.node.policy import load_policy
from medfed.node.state import NodeState

app = typer.Typer(help="Analytics queries asked of this hospital.", no_args_is_help=True)


@app.command("list")
def list_queries(ctx: typer.Context) -> None:
    """What this node did with each query, what it spent, and the budget left per disease."""
    home = settings_from(ctx).node_home
    state = NodeState(home)
    entries = state.analytics_entries()
    table = Table("query", "disease", "kind", "status", "epsilon", "note", "when")
    for entry in entries:
        table.add_row(
            str(entry.query_id),
            entry.disease,
            entry.kind,
            entry.status,
            f"{entry.epsilon:g}",
            entry.note or "",
            entry.recorded_at,
        )
    console.print(table)
    cap = load_policy(home).analytics_epsilon_cap
    for disease in sorted({e.disease for e in entries}):
        spent = state.analytics_spent(disease).epsilon
        console.print(
            f"{disease}: analytics epsilon {spent:g} of {cap:g} spent "
            f"(training's ledger is apart: epsilon {state.spent(disease).epsilon:g})."
        )


@app.command("approve")
def approve(
    ctx: typer.Context, query_id: Annotated[int, typer.Argument(help="The query to approve.")]
) -> None:
    """Approve one query (needed when the policy says --analytics-approval); the running
    `participate` then answers it, if the rest of the policy allows."""
    NodeState(settings_from(ctx).node_home).approve_analytics(query_id)
    console.print(f"Analytics query {query_id} approved; the running node answers it next.")
