"""Hash chain over audit events: each row's hash covers its content and the previous row's hash.

Verification walks the rows in sequence order against the recorded chain head and names the
first row that was edited, inserted or deleted. Sequence numbers are gapless by construction
(they are taken from the chain head inside the writing transaction), so a gap is a deletion.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    occurred_at: str  # ISO 8601, UTC, microseconds
    actor: str
    action: str
    object: str | None
    outcome: str
    details: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    row_hash: str = ""


def compute_row_hash(record: AuditRecord) -> str:
    """SHA-256 over a canonical JSON encoding of every field except the row's own hash."""
    canonical = json.dumps(
        [
            record.seq,
            record.occurred_at,
            record.actor,
            record.action,
            record.object,
            record.outcome,
            dict(record.details),
            record.prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def seal(record: AuditRecord) -> AuditRecord:
    """The record with its row hash filled in."""
    return AuditRecord(**{**record.__dict__, "row_hash": compute_row_hash(record)})


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.rows_checked} rows verified"
        return f"audit chain broken at row {self.first_bad_seq}: {self.problem}"


def verify_chain(records: Iterable[AuditRecord], head_seq: int, head_hash: str) -> ChainVerdict:
    """Check the chain; `records` must come in ascending `seq` order."""
    expected_seq = 1
    previous_hash = GENESIS_HASH
    checked = 0
    for record in records:
        if record.seq > expected_seq:
            return ChainVerdict(
                False,
                checked,
                expected_seq,
                f"row {expected_seq} is missing (deleted)"
                + (
                    f"; rows {expected_seq}-{record.seq - 1} are gone"
                    if record.seq - 1 > expected_seq
                    else ""
                ),
            )
        if record.seq < expected_seq:
            return ChainVerdict(
                False, checked, record.seq, f"row {record.seq} appears twice (inserted)"
            )
        if record.seq > head_seq:
            return ChainVerdict(
                False,
                checked,
                record.seq,
                f"row {record.seq} lies beyond the chain head ({head_seq}): it was inserted",
            )
        if record.prev_hash != previous_hash:
            return ChainVerdict(
                False,
                checked,
                record.seq,
                f"row {record.seq} does not link to row {record.seq - 1}: "
                "a row was inserted here or the one before it was replaced",
            )
        if compute_row_hash(record) != record.row_hash:
            return ChainVerdict(
                False,
                checked,
                record.seq,
                f"row {record.seq} was edited (its content no longer matches its hash)",
            )
        previous_hash = record.row_hash
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    if last_seq < head_seq:
        return ChainVerdict(
            False,
            checked,
            last_seq + 1,
            f"row {last_seq + 1} is missing (deleted); the chain head records {head_seq} rows",
        )
    if previous_hash != head_hash:
        return ChainVerdict(
            False, checked, last_seq, f"row {last_seq} does not match the chain head's hash"
        )
    return ChainVerdict(True, checked)
