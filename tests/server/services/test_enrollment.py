"""When a node's read-only request records that the node was seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medfed.server.db.tables import Node
from medfed.server.services.enrollment import SEEN_RESOLUTION, seen_is_stale

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _node(last_seen: datetime | None) -> Node:
    return Node(
        hospital_id=1, name="n", credential_hash="x", software_version="1", last_seen_at=last_seen
    )


def test_a_node_never_seen_is_recorded() -> None:
    assert seen_is_stale(_node(None), NOW)


def test_a_node_seen_within_the_resolution_is_not_written_again() -> None:
    assert not seen_is_stale(_node(NOW - SEEN_RESOLUTION + timedelta(seconds=1)), NOW)


def test_a_node_seen_longer_ago_is_recorded_again() -> None:
    assert seen_is_stale(_node(NOW - SEEN_RESOLUTION), NOW)
    # SQLite hands back naive datetimes (UTC): they compare the same way.
    assert seen_is_stale(_node((NOW - timedelta(minutes=5)).replace(tzinfo=None)), NOW)
