"""The federated round as a state machine, and the rules that move it (pure: no I/O, no clock).

    open ──(cohort fixed)──> training ──(updates in)──> evaluating ──> deployed
      │                         │                            └───────> rejected
      └──(too few joined)──> failed <──(too few submitted)──┘   (any live state → failed on cancel)

`next_step` looks at a snapshot of a round (counts and times, passed in) and says which
transition is due, if any; the caller persists it. `check_transition` refuses anything the
diagram does not allow, so a transition is checked before it runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from medfed.fl import promotion
from medfed.fl.privacy import (
    MAX_DELTA,
    certifiable,
    smallest_epsilon,
)

OPEN = "open"
TRAINING = "training"
EVALUATING = "evaluating"
DEPLOYED = "deployed"
REJECTED = "rejected"
FAILED = "failed"
DECIDE = "decide"  # not a state: "run the validation gate", which ends in deployed or rejected

LIVE = (OPEN, TRAINING, EVALUATING)
FINISHED = (DEPLOYED, REJECTED, FAILED)
DEADLINES = (
    "join_seconds",
    "grace_seconds",
    "submit_seconds",
    "evaluate_seconds",
    "secagg_stage_seconds",
)
MAX_DEADLINE_SECONDS = 30 * 24 * 3600.0
MAX_BUDGET_ROUNDS = 1000  # a campaign's most rounds (fl/campaigns.MAX_ROUNDS)
MAX_VALIDATION_FRACTION = 0.5  # more than half kept back leaves the line too little to learn
FINISHED = (DEPLOYED, REJECTED, FAILED)
ALLOWED: dict[str, frozenset[str]] = {
    OPEN: frozenset({TRAINING, FAILED}),
    TRAINING: frozenset({EVALUATING, FAILED}),
    EVALUATING: frozenset({DEPLOYED, REJECTED, FAILED}),
    DEPLOYED: frozenset(),
    REJECTED: frozenset(),
    FAILED: frozenset(),
}


class TransitionRefused(ValueError):
    """A transition the state machine does not allow."""


def check_transition(current: str, target: str) -> None:
    if target not in ALLOWED.get(current, frozenset()):
        raise TransitionRefused(f"a round cannot go from {current} to {target}")


@dataclass(frozen=True)
class RoundConfig:
    """What the administrator chose when opening a round; persisted with it as a dict."""

    strategy: str = "fedavg"
    strategy_options: dict[str, float] = field(default_factory=dict)
    min_hospitals: int = 3
    max_hospitals: int = 50
    min_rows: int = 200
    local_epochs: int = 5  # used when local_steps is None
    local_steps: int | None = 10  # optimiser steps per round, the same at every hospital
    batch_size: int = 32
    # None: each node's default for its model and the round's privacy (fl/privacy.py)
    learning_rate: float | None = None
    proximal_mu: float = 0.0
    # the share of its rows each hospital keeps back as evidence for the promotion rule; fewer
    # rows kept back train a better line but promote less often (README: the FLamby table)
    validation_fraction: float = 0.2
    target_epsilon: float | None = 1.0  # per hospital; None: no DP (admin's choice)
    # target_epsilon covers this many rounds (a campaign's): each round's noise is set so that
    # they compose to target_epsilon under Renyi DP. 1: the target is this round's alone.
    budget_rounds: int = 1
    norm_bound: float = 10.0  # L2 bound on one hospital's update
    join_seconds: float = 600.0
    grace_seconds: float = 10.0
    submit_seconds: float = 1800.0
    evaluate_seconds: float = 300.0
    metric: str = "brier"  # what the promotion rule tests first (fl/promotion.py)
    tolerance: float = 0.01  # non-inferiority margin of the promotion rule (fl/promotion.py)
    # the promotion rule's two-sided confidence level: 0.90 is a one-sided test at 5 %
    confidence: float = promotion.DEFAULT_CONFIDENCE
    secure: bool = True  # secure aggregation; False (plain mode) is an administrator's opt-in
    # With `secure`: CKKS homomorphic encryption (keys made and held by the hospitals) instead of
    # pairwise masking. Either way the server sees only the sum.
    homomorphic: bool = False
    secagg_threshold: int | None = None  # None: more than half of the cohort
    secagg_stage_seconds: float = 120.0  # deadline of each key and unmasking stage
    # Only these hospitals (ids) may join; None: any hospital of the network.
    hospitals: tuple[int, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hospitals"] = None if self.hospitals is None else list(self.hospitals)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("hospitals") is not None:
            values["hospitals"] = tuple(sorted({int(h) for h in values["hospitals"]}))
        return cls(**values)

    @property
    def protection(self) -> str:
        """plain, secure_aggregation or homomorphic: what keeps updates from the server."""
        if not self.secure:
            return "plain"
        return "homomorphic" if self.homomorphic else "secure_aggregation"

    def admits(self, hospital_id: int) -> bool:
        """Whether this hospital may join (the round is for every hospital, or names it)."""
        return self.hospitals is None or hospital_id in self.hospitals

    def problems(self) -> list[str]:
        found = []
        if self.min_hospitals < 1:
            found.append("min_hospitals must be at least 1")
        if self.homomorphic and not self.secure:
            found.append(
                "homomorphic encryption keeps updates from the server: not with plain mode"
            )
        if self.local_steps is not None and self.local_steps < 1:
            found.append("local_steps must be at least 1, or null to train local_epochs")
        if not 0 <= self.validation_fraction <= MAX_VALIDATION_FRACTION:
            found.append(
                f"validation_fraction must be between 0 and {MAX_VALIDATION_FRACTION:g} "
                "(the share of each hospital's rows kept back as evidence)"
            )
        if self.max_hospitals < self.min_hospitals:
            found.append("max_hospitals must be at least min_hospitals")
        if self.hospitals is not None and len(self.hospitals) < self.min_hospitals:
            found.append(
                f"min_hospitals ({self.min_hospitals}) is more than the "
                f"{len(self.hospitals)} hospitals the round is for"
            )
        for name in ("join_seconds", "submit_seconds", "evaluate_seconds", "norm_bound"):
            if not getattr(self, name) > 0:
                found.append(f"{name} must be positive")
        if not (self.grace_seconds >= 0 and self.tolerance >= 0):
            found.append("grace_seconds and tolerance cannot be negative")
        if not promotion.MIN_CONFIDENCE <= self.confidence <= promotion.MAX_CONFIDENCE:
            found.append(
                f"confidence must be between {promotion.MIN_CONFIDENCE:g} and "
                f"{promotion.MAX_CONFIDENCE:g} (the promotion rule's two-sided level)"
            )
        for name in DEADLINES:
            value = getattr(self, name)
            if not (math.isfinite(value) and value <= MAX_DEADLINE_SECONDS):
                found.append(f"{name} must be at most {MAX_DEADLINE_SECONDS:g} seconds (30 days)")
        if (
            self.secagg_threshold is not None
            and not 1 <= self.secagg_threshold <= self.max_hospitals
        ):
            found.append("secagg_threshold must be between 1 and max_hospitals")
        if not 1 <= self.budget_rounds <= MAX_BUDGET_ROUNDS:
            found.append(f"budget_rounds must be between 1 and {MAX_BUDGET_ROUNDS}")
        if self.target_epsilon is not None and self.target_epsilon <= 0:
            found.append("target_epsilon must be positive, or null for no differential privacy")
        elif self.target_epsilon is not None and not certifiable(self.target_epsilon, MAX_DELTA):
            found.append(
                f"target_epsilon {self.target_epsilon:g} is below what DP-SGD can certify at "
                f"delta {MAX_DELTA:g} (about {smallest_epsilon(MAX_DELTA):.2g}); "
                "choose a larger epsilon, or null for no differential privacy"
            )
        return found


@dataclass(frozen=True)
class RoundSnapshot:
    status: str
    config: RoundConfig
    opened_at: datetime
    join_times: tuple[datetime, ...]  # of the members, in order
    submitted: int = 0
    evaluated: int = 0
    cohort_fixed_at: datetime | None = None
    candidate_at: datetime | None = None


@dataclass(frozen=True)
class Step:
    target: str
    reason: str


def next_step(snapshot: RoundSnapshot, now: datetime) -> Step | None:
    """The transition that is due now, or None. Pure: the same snapshot and time, the same answer."""
    config = snapshot.config
    joined = len(snapshot.join_times)
    if snapshot.status == OPEN:
        if joined >= config.max_hospitals:
            return Step(TRAINING, f"the cohort is full ({joined} hospitals)")
        if joined >= config.min_hospitals:
            reached = sorted(snapshot.join_times)[config.min_hospitals - 1]
            if now >= reached + timedelta(seconds=config.grace_seconds):
                return Step(TRAINING, f"{joined} hospitals joined")
        if now >= snapshot.opened_at + timedelta(seconds=config.join_seconds):
            if joined >= config.min_hospitals:
                return Step(TRAINING, f"{joined} hospitals joined by the deadline")
            return Step(
                FAILED,
                f"only {joined} of the {config.min_hospitals} hospitals needed joined "
                "before the deadline",
            )
        return None
    if snapshot.status == TRAINING and snapshot.config.secure:
        return None  # the secure-aggregation stages decide (fl.secagg.stages)
    if snapshot.status == TRAINING:
        if snapshot.submitted >= joined:
            return Step(EVALUATING, f"all {joined} hospitals submitted")
        assert snapshot.cohort_fixed_at is not None
        if now >= snapshot.cohort_fixed_at + timedelta(seconds=config.submit_seconds):
            if snapshot.submitted >= config.min_hospitals:
                return Step(
                    EVALUATING, f"{snapshot.submitted} of {joined} submitted by the deadline"
                )
            return Step(
                FAILED,
                f"only {snapshot.submitted} of the {config.min_hospitals} updates needed arrived "
                "before the submission deadline",
            )
        return None
    if snapshot.status == EVALUATING:
        assert snapshot.candidate_at is not None
        if snapshot.evaluated >= snapshot.submitted:
            return Step(DECIDE, "every contributor evaluated the candidate")
        if now >= snapshot.candidate_at + timedelta(seconds=config.evaluate_seconds):
            return Step(DECIDE, "the evaluation deadline passed")
        return None
    return None


def weighted_metric(reports: list[tuple[int, dict[str, Any]]], metric: str) -> float | None:
    """Row-weighted mean of one metric over hospitals' reports; None if nobody reported it."""
    usable = [(rows, float(r[metric])) for rows, r in reports if r.get(metric) is not None]
    total = sum(rows for rows, _ in usable)
    if not usable or total <= 0:
        return None
    return sum(rows * value for rows, value in usable) / total


class UpdateRefused(ValueError):
    """An update that fails a check; the message says which."""


def check_update(vector: np.ndarray, expected_length: int, norm_bound: float) -> float:
    """Shape, finiteness and the L2 norm bound of one update; returns the norm."""
    if vector.ndim != 1 or vector.shape[0] != expected_length:
        raise UpdateRefused(
            f"the update has {vector.size} values; the round's base model has {expected_length}"
        )
    # One pass: x·x is finite only if every value is (or the norm overflowed: then look closer).
    squared = float(np.dot(vector, vector))
    if not math.isfinite(squared) and not np.all(np.isfinite(vector)):
        raise UpdateRefused("the update contains NaN or infinite values")
    norm = math.sqrt(squared)
    if not norm <= norm_bound:
        raise UpdateRefused(
            f"the update's L2 norm {norm:.3g} exceeds the round's bound {norm_bound:g}; "
            "train with a smaller learning rate or fewer epochs"
        )
    return norm
