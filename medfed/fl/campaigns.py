"""Training campaigns: rounds that run themselves (pure: no I/O, no clock).

A campaign is a plan (how many rounds, when, under which privacy budget, when to stop early)
and the rounds it has opened so far. `next_action` reads a snapshot of both and says what is
due now: open the next round, wait until a time, or finish with a reason. Everything the rule
needs is derived from the rounds themselves, so a server that restarts mid-campaign carries on
from what the database holds and never opens a round twice.

Privacy: the per-hospital budget covers the whole campaign. Every round carries the budget and
the number of rounds, and each node sets its noise so that that many rounds like this one compose
to the budget under Renyi DP (ml/accounting.py); 15 rounds then cost each hospital what one round
of 150 steps costs, about a third of the noise that splitting the budget evenly (basic
composition) needs. A round that found too few hospitals trained nobody, spent nothing and does
not count against the plan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from medfed.fl.privacy import MAX_DELTA, certifiable, smallest_epsilon

RUNNING = "running"
PAUSED = "paused"
FINISHED = "finished"
CANCELLED = "cancelled"
ACTIVE = (RUNNING, PAUSED)
STATUSES = (RUNNING, PAUSED, FINISHED, CANCELLED)

SCHEDULES = ("back_to_back", "every", "at")
MAX_ROUNDS = 1000
MAX_WAIT_SECONDS = 366 * 24 * 3600.0  # no interval or start further than a year ahead
CLOCK_SKEW = timedelta(minutes=2)  # a start "now" from a slightly slow browser is not "past"
LOWER_IS_BETTER = frozenset({"brier"})


@dataclass(frozen=True)
class CampaignPlan:
    """What the administrator chose; persisted with the campaign as a dict."""

    rounds: int = 10
    patience: int | None = 5  # stop after this many completed rounds without a new best
    epsilon_budget: float | None = None  # per hospital, whole campaign; None: no DP
    schedule: str = "back_to_back"
    every_seconds: float | None = None  # schedule "every"
    times: tuple[datetime, ...] = ()  # schedule "at"
    start_at: datetime | None = None  # None: now
    retry_seconds: float = 60.0  # after a round that found too few hospitals
    max_skips: int = 5  # consecutive rounds without enough hospitals before giving up

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["times"] = [t.isoformat() for t in self.times]
        data["start_at"] = self.start_at.isoformat() if self.start_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CampaignPlan:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["times"] = tuple(
            t if isinstance(t, datetime) else datetime.fromisoformat(t)
            for t in values.get("times") or ()
        )
        start = values.get("start_at")
        values["start_at"] = datetime.fromisoformat(start) if isinstance(start, str) else start
        return cls(**values)

    def problems(self, now: datetime) -> list[tuple[str, str]]:
        """(field, what is wrong and how to fix it); empty when the plan can run."""
        found: list[tuple[str, str]] = []
        if not 1 <= self.rounds <= MAX_ROUNDS:
            found.append(("rounds", f"rounds must be between 1 and {MAX_ROUNDS}"))
        if self.patience is not None and self.patience < 1:
            found.append(
                ("patience", "patience must be at least 1 round, or null to never stop early")
            )
        if not 1 <= self.max_skips <= 100:
            found.append(("max_skips", "max_skips must be between 1 and 100"))
        if not _positive_wait(self.retry_seconds):
            found.append(
                ("retry_seconds", "retry_seconds must be a positive number of seconds up to a year")
            )
        if self.epsilon_budget is not None:
            if not math.isfinite(self.epsilon_budget) or self.epsilon_budget <= 0:
                found.append(
                    (
                        "epsilon_budget",
                        "epsilon_budget must be a positive number, or null for no differential privacy",
                    )
                )
            elif not certifiable(self.epsilon_budget, MAX_DELTA):
                found.append(
                    (
                        "epsilon_budget",
                        f"epsilon_budget {self.epsilon_budget:g} is below what DP-SGD can certify "
                        f"(about {smallest_epsilon(MAX_DELTA):.2g}); raise the budget",
                    )
                )
        if self.schedule not in SCHEDULES:
            found.append(("schedule", f"schedule must be one of {', '.join(SCHEDULES)}"))
        if self.schedule == "every" and (
            self.every_seconds is None or not _positive_wait(self.every_seconds)
        ):
            found.append(
                (
                    "every_seconds",
                    "schedule 'every' needs every_seconds: a positive number of seconds up to a year",
                )
            )
        if self.schedule == "at":
            if not self.times:
                found.append(("times", "schedule 'at' needs at least one time"))
            elif len(self.times) > MAX_ROUNDS:
                found.append(("times", f"at most {MAX_ROUNDS} times"))
            elif any(t.tzinfo is None for t in self.times):
                found.append(
                    ("times", "give each time with its time zone (e.g. 2027-01-05T02:00:00+00:00)")
                )
            elif min(self.times) < now - CLOCK_SKEW:
                found.append(
                    (
                        "times",
                        f"{min(self.times).isoformat()} is in the past; give times from now on",
                    )
                )
            elif max(self.times) > now + timedelta(seconds=MAX_WAIT_SECONDS):
                found.append(("times", "times more than a year ahead are refused"))
        if self.start_at is not None:
            if self.start_at.tzinfo is None:
                found.append(("start_at", "give start_at with its time zone"))
            elif self.start_at < now - CLOCK_SKEW:
                found.append(
                    (
                        "start_at",
                        f"start_at {self.start_at.isoformat()} is in the past; leave it empty to start now",
                    )
                )
            elif self.start_at > now + timedelta(seconds=MAX_WAIT_SECONDS):
                found.append(("start_at", "start_at more than a year ahead is refused"))
        return found


def _positive_wait(seconds: float) -> bool:
    return math.isfinite(seconds) and 0 < seconds <= MAX_WAIT_SECONDS


@dataclass(frozen=True)
class RoundOutcome:
    """What the campaign needs of one of its rounds."""

    status: str  # live, completed (deployed or rejected), failed
    trained: bool  # the cohort was fixed: hospitals trained and spent privacy
    opened_at: datetime
    closed_at: datetime | None = None
    value: float | None = None  # the candidate's measure on the training line
    promoted: bool = False
    version: str | None = None  # the checkpoint the round registered


@dataclass(frozen=True)
class CampaignSnapshot:
    status: str
    plan: CampaignPlan
    created_at: datetime
    measure: str
    rounds: tuple[RoundOutcome, ...] = field(default_factory=tuple)
    other_round_live: bool = False  # a round of the disease that this campaign did not open


@dataclass(frozen=True)
class Action:
    kind: str  # "open", "wait", "finish"
    reason: str
    at: datetime | None = None  # for "wait": when to look again


@dataclass(frozen=True)
class LineProgress:
    best: float | None
    best_round: int | None  # 1-based among completed rounds
    since_best: int  # completed rounds after the best
    best_version: str | None = None  # the best checkpoint so far: the candidate to serve
    best_promoted: bool = False


def line_progress(rounds: tuple[RoundOutcome, ...], measure: str) -> LineProgress:
    """The best value the training line reached and how many completed rounds came after it."""
    best: float | None = None
    best_at: int | None = None
    best_outcome: RoundOutcome | None = None
    completed = [r for r in rounds if r.status == "completed"]
    for index, outcome in enumerate(completed, start=1):
        if outcome.value is None:
            continue
        better = best is None or (
            outcome.value < best if measure in LOWER_IS_BETTER else outcome.value > best
        )
        if better:
            best, best_at, best_outcome = outcome.value, index, outcome
    since = len(completed) - (best_at or 0)
    if best_outcome is None:
        return LineProgress(best, best_at, since)
    return LineProgress(best, best_at, since, best_outcome.version, best_outcome.promoted)


def trained_rounds(rounds: tuple[RoundOutcome, ...]) -> int:
    return sum(r.trained for r in rounds)


def skipped_in_a_row(rounds: tuple[RoundOutcome, ...]) -> int:
    count = 0
    for outcome in reversed(rounds):
        if outcome.status != "failed" or outcome.trained:
            break
        count += 1
    return count


def next_action(snapshot: CampaignSnapshot, now: datetime) -> Action | None:
    """What is due now; None while a round of the campaign is live or it is not running."""
    if snapshot.status != RUNNING:
        return None
    plan, rounds = snapshot.plan, snapshot.rounds
    if any(r.status == "live" for r in rounds):
        return None
    done = trained_rounds(rounds)
    if done >= plan.rounds:
        return Action("finish", f"all {plan.rounds} planned rounds trained")
    progress = line_progress(rounds, snapshot.measure)
    if (
        plan.patience is not None
        and progress.best is not None
        and progress.since_best >= plan.patience
    ):
        return Action(
            "finish",
            f"the training line has not improved for {progress.since_best} rounds "
            f"(best {snapshot.measure} {progress.best:.3f} after completed round {progress.best_round})",
        )
    skips = skipped_in_a_row(rounds)
    if skips >= plan.max_skips:
        return Action("finish", f"{skips} rounds in a row found too few hospitals")
    due = _due(plan, snapshot.created_at, rounds)
    if due is None:
        return Action("finish", "every scheduled time has passed")
    if now < due:
        return Action("wait", "waiting for the next scheduled round", due)
    if snapshot.other_round_live:
        return Action(
            "wait",
            "another round of this disease is live",
            now + timedelta(seconds=plan.retry_seconds),
        )
    return Action("open", f"round {done + 1} of {plan.rounds}")


def _due(
    plan: CampaignPlan, created_at: datetime, rounds: tuple[RoundOutcome, ...]
) -> datetime | None:
    start = plan.start_at or created_at
    last = rounds[-1] if rounds else None
    if last is not None and last.status == "failed" and not last.trained:
        retry = (last.closed_at or last.opened_at) + timedelta(seconds=plan.retry_seconds)
    else:
        retry = start
    if plan.schedule == "at":
        after = last.opened_at if last else None
        upcoming = [t for t in sorted(plan.times) if after is None or t > after]
        if not upcoming:
            return None
        return upcoming[0]
    if last is None:
        return start
    ended = last.closed_at or last.opened_at
    if plan.schedule == "every" and plan.every_seconds:
        slots = math.floor((last.opened_at - start).total_seconds() / plan.every_seconds) + 1
        slot = start + timedelta(seconds=slots * plan.every_seconds)
        return max(slot, ended, retry)
    return max(ended, retry)
