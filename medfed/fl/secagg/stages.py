"""When a secure-aggregation stage ends (pure): everyone expected has sent, or the stage's
deadline has passed with at least t messages; fewer than t at the deadline fails the round."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from medfed.fl.secagg import constants as wire

NEXT = {
    wire.MASKING: {
        wire.ADVERTISE_KEYS: wire.SHARE_KEYS,
        wire.SHARE_KEYS: wire.MASKED_INPUT,
        wire.MASKED_INPUT: wire.UNMASKING,
        wire.UNMASKING: wire.DONE,
    },
    wire.HOMOMORPHIC: {
        wire.ADVERTISE_KEYS: wire.HE_KEYS,
        wire.HE_KEYS: wire.ENCRYPTED_INPUT,
        wire.ENCRYPTED_INPUT: wire.DECRYPTING,
        wire.DECRYPTING: wire.DONE,
    },
}
WHAT = {
    wire.ADVERTISE_KEYS: "advertised keys",
    wire.SHARE_KEYS: "shared keys",
    wire.MASKED_INPUT: "sent a masked update",
    wire.UNMASKING: "helped unmask",
    wire.HE_KEYS: "sent the round's encryption key",
    wire.ENCRYPTED_INPUT: "sent an encrypted update",
    wire.DECRYPTING: "decrypted the sum",
}


@dataclass(frozen=True)
class StageSnapshot:
    stage: str
    expected: int
    received: int
    threshold: int
    started_at: datetime
    deadline_seconds: float
    mode: str = wire.MASKING


@dataclass(frozen=True)
class StageStep:
    target: str  # the next stage, or "failed"
    reason: str


def next_stage(snapshot: StageSnapshot, now: datetime) -> StageStep | None:
    following = NEXT[snapshot.mode]
    if snapshot.stage not in following:
        return None
    what = WHAT[snapshot.stage]
    if snapshot.received >= snapshot.expected:
        everyone = f"all {snapshot.expected} hospitals" if snapshot.expected > 1 else "the hospital"
        return StageStep(following[snapshot.stage], f"{everyone} {what}")
    if now < snapshot.started_at + timedelta(seconds=snapshot.deadline_seconds):
        return None
    if snapshot.received >= snapshot.threshold:
        return StageStep(
            following[snapshot.stage],
            f"{snapshot.received} of {snapshot.expected} hospitals {what} by the deadline",
        )
    return StageStep(
        "failed",
        f"only {snapshot.received} of {snapshot.expected} hospitals {what} before the deadline; "
        + (
            f"secure aggregation needs at least t = {snapshot.threshold}"
            if snapshot.mode == wire.MASKING
            else f"this homomorphic round needs at least {snapshot.threshold}"
        ),
    )


def next_key_holder(
    roster: Iterable[int], passed_over: Iterable[int], threshold: int
) -> int | None:
    """Who makes a homomorphic round's key once the holder has not sent it by the deadline: the
    lowest member id not yet passed over, while enough members remain besides those passed over
    for the round to reach its threshold (None: the round cannot go on)."""
    candidates = sorted(set(roster) - set(passed_over))
    if not candidates or len(candidates) < threshold:
        return None
    return candidates[0]


def closed(
    state: dict[str, Any],
    senders: list[int],
    roster: dict[int, dict[str, str]],
    target: str,
    started_at: str,
    length: int,
) -> dict[str, Any]:
    """The protocol state once the current stage ends with these `senders` (sorted member ids,
    each expected) and `target` opens: who the next stage expects, and what the ended stage
    fixed (the roster and vector length, who shared keys, who sent an input)."""
    state = dict(state)
    ended = state["stage"]
    expected = senders
    if ended == wire.ADVERTISE_KEYS:
        state["roster"] = {str(s): v for s, v in roster.items() if s in senders}
        state["length"] = length
        if state.get("mode") == wire.HOMOMORPHIC:
            state["key_holder"] = senders[0]
            expected = senders[:1]
    elif ended == wire.HE_KEYS:
        expected = sorted(int(k) for k in state["roster"])  # each holds the sealed key now
    elif ended in (wire.MASKED_INPUT, wire.ENCRYPTED_INPUT):
        state["survivors"] = senders
    elif ended == wire.SHARE_KEYS:
        state["shared"] = senders
    state.update(stage=target, started_at=started_at, expected=expected)
    return state
