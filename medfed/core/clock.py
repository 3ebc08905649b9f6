"""Time in one place: aware UTC datetimes and their canonical text form."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive values (as SQLite returns them) are UTC by convention of this project."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds")
