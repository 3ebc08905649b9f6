"""Answering the network's analytics queries at the hospital: the hospital's policy decides, its
own analytics budget pays (apart from training's), its checked file answers, and only its
figures with its share of the noise already in them are kept to send.

An answer is drawn once per query and kept: asked again (a retry, a restart), the node sends the
same vector, because two noisy draws of the same figures would let anyone average the noise away.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medfed.analytics import local, noise
from medfed.analytics.query import HISTOGRAM, QUANTILES, Layout, Query, layout
from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.fl.privacy import Spend
from medfed.node.intake import IntakeRefused, IntakeReport, read_rows
from medfed.node.mappings import MappingBook
from medfed.node.mappings import load as load_mappings
from medfed.node.policy import LocalPolicy, load_policy
from medfed.node.state import AnalyticsEntry, NodeState

ANSWERED, DECLINED, AWAITING_APPROVAL = "answered", "declined", "awaiting_approval"


@dataclass(frozen=True)
class Asked:
    """One query as the server asks it of this hospital."""

    query_id: int
    query: Query
    # The part of the Gaussian noise's variance this hospital adds: 1/t when t hospitals' answers
    # are summed under secure aggregation, 1 when this hospital's figures are shown by name.
    share: float = 1.0
    per_site: bool = False  # shown by this hospital's name (sent unmasked, with all the noise)


def refusal(policy: LocalPolicy, spent: Spend, asked: Asked) -> str | None:
    """Why this hospital's policy declines the query, or None (pure)."""
    query = asked.query
    if policy.diseases is not None and query.disease not in policy.diseases:
        return f"this hospital's policy does not include {query.disease}"
    if policy.analytics_kinds is not None and query.kind not in policy.analytics_kinds:
        allowed = ", ".join(policy.analytics_kinds) or "none"
        return f"this hospital's policy does not answer {query.kind} queries (allowed: {allowed})"
    if asked.per_site and not policy.analytics_per_site:
        return "this hospital's policy does not allow its own figures to be shown by name"
    left = policy.analytics_epsilon_cap - spent.epsilon
    if query.epsilon > left + 1e-12:
        return (
            f"epsilon {query.epsilon:g} is more than this hospital's analytics budget for "
            f"{query.disease} has left ({max(left, 0.0):g} of {policy.analytics_epsilon_cap:g})"
        )
    return None


def _awaiting(query: Query, asked: Asked) -> AnalyticsEntry:
    return AnalyticsEntry(
        asked.query_id,
        query.disease,
        query.kind,
        AWAITING_APPROVAL,
        0.0,
        0.0,
        None,
        "this hospital's policy asks a person to approve each analytics query first "
        f"(medfed node analytics approve {asked.query_id})",
        "",
    )


def _rows(
    spec: DiseaseSpec, path: Path, drop_columns: frozenset[str], book: MappingBook
) -> tuple[list[tuple[dict[str, Any], int]], str | None]:
    report = IntakeReport(spec.id, str(path))
    try:
        rows = list(
            read_rows(spec, path, drop_columns=set(drop_columns), report=report, mappings=book)
        )
    except IntakeRefused as refused:
        return [], f"the hospital's file cannot be used: {refused}"
    if not report.ok:
        return [], "the hospital's file cannot be used: " + "; ".join(report.blocking)
    return rows, None


def _verdict(
    node_home: Path, state: NodeState, asked: Asked, path: Path, drop_columns: frozenset[str]
) -> tuple[AnalyticsEntry | None, LocalPolicy, list[tuple[dict[str, Any], int]]]:
    """The policy's and the data's say, before anything is drawn: a decline (recorded, so it is
    reported once) or the wait for a person's approval; or None with the policy and the rows."""
    query = asked.query
    spec = get_disease(query.disease)
    layout(spec, query)  # the node checks the query itself, not only the server
    policy = load_policy(node_home)
    reason = refusal(policy, state.analytics_spent(query.disease), asked)
    rows: list[tuple[dict[str, Any], int]] = []
    if reason is None:
        rows, reason = _rows(spec, path, drop_columns, load_mappings(node_home))
    if reason is not None:
        declined = state.record_analytics(
            asked.query_id, query.disease, query.kind, DECLINED, 0.0, 0.0, None, reason
        )
        return declined, policy, []
    if policy.analytics_approval and not state.analytics_approved(asked.query_id):
        # Nothing recorded and nothing spent: asked again once approved, the node answers.
        return _awaiting(query, asked), policy, []
    return None, policy, rows


def consider(
    node_home: Path, asked: Asked, path: Path, *, drop_columns: frozenset[str] = frozenset()
) -> AnalyticsEntry | None:
    """Whether this hospital would answer, without drawing or spending anything: None if it
    would, else the decline or the wait for approval."""
    state = NodeState(node_home)
    kept = state.analytics_entry(asked.query_id)
    if kept is not None:
        return None if kept.status == ANSWERED else kept
    return _verdict(node_home, state, asked, path, drop_columns)[0]


def answer(
    node_home: Path, asked: Asked, path: Path, *, drop_columns: frozenset[str] = frozenset()
) -> AnalyticsEntry:
    """Decide and, if the policy allows, answer; recorded once with the spend in the same write."""
    state = NodeState(node_home)
    kept = state.analytics_entry(asked.query_id)
    if kept is not None:
        return kept
    if not 0 < asked.share <= 1 or (asked.per_site and asked.share != 1):
        raise ValueError("the noise share must lie in (0, 1], and be 1 for figures shown by name")
    decided, policy, rows = _verdict(node_home, state, asked, path, drop_columns)
    if decided is not None:
        return decided
    query = asked.query
    spec = get_disease(query.disease)
    shape = layout(spec, query)
    if asked.per_site:
        # Shown by name, this hospital's cells are released one by one: if none could reach
        # the threshold, say so now rather than spend the budget on a release of nothing.
        exact = local.statistics(spec, query, shape, rows)
        if all(count < policy.analytics_min_cell for count in _cell_rows(query, shape, exact)):
            return state.record_analytics(
                asked.query_id,
                query.disease,
                query.kind,
                DECLINED,
                0.0,
                0.0,
                None,
                f"every cell of this hospital's answer holds fewer than {policy.analytics_min_cell} "
                "patients (its suppression threshold): ask with fewer or wider cells",
            )
    plan = noise.plan(query.mechanism, query.epsilon, query.delta, shape.touched)
    rng = np.random.default_rng(secrets.randbits(128))
    vector = local.noisy_answer(spec, query, shape, rows, plan, rng, asked.share)
    return state.record_analytics(
        asked.query_id,
        query.disease,
        query.kind,
        ANSWERED,
        query.epsilon,
        plan.delta,
        vector.astype("<f8").tobytes(),
        f"{len(rows)} rows; cells under {policy.analytics_min_cell} withheld on release",
    )


def _cell_rows(query: Query, shape: Layout, exact: np.ndarray) -> list[float]:
    """Each cell's row count in an exact statistics vector."""
    width = len(shape.components)
    binned = query.kind in (HISTOGRAM, QUANTILES)
    return [
        float(exact[i * width : (i + 1) * width].sum() if binned else exact[i * width])
        for i in range(len(shape.cells))
    ]
