"""What nodes report about themselves: software version, registry counts, models held."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from medfed.core.clock import utcnow
from medfed.server.db.tables import Node
from medfed.server.services.enrollment import NodeRef


def record(session: Session, node: NodeRef, report: dict[str, Any]) -> None:
    row = session.get(Node, node.id)
    if row is None:  # revoked and removed between authentication and now
        return
    row.software_version = str(report["software_version"])[:40]
    row.inventory = {"registry": report.get("registry"), "models": report.get("models", [])}
    row.inventory_at = utcnow()
