"""What a node tells the network about itself: its software version and, if its hospital's
policy allows (`share_inventory`, on by default), how many patients, admissions and diagnoses
are registered (counts only, never a record) and which models it holds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from medfed import __version__
from medfed.core.errors import MedFedError
from medfed.node.client import ServerClient
from medfed.node.held_models import held
from medfed.node.policy import load_policy
from medfed.node.registry.store import DB_FILE, Registry

logger = logging.getLogger("medfed.node")


def collect(node_home: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"software_version": __version__, "registry": None, "models": []}
    if not load_policy(node_home).share_inventory:
        return report
    if (node_home / DB_FILE).exists():
        report["registry"] = Registry(node_home).counts()
    report["models"] = [
        {
            "disease": m.disease,
            "kind": m.kind,
            "version": m.version,
            "base_version": m.base_version,
            "kept_at": m.kept_at,
        }
        for m in held(node_home)
    ]
    return report


def report(node_home: Path, client: ServerClient) -> dict[str, Any]:
    inventory = collect(node_home)
    client.report_inventory(inventory)
    return inventory


def report_quietly(node_home: Path, client: ServerClient) -> None:
    """Report, and only log a failure: telling the network is never worth stopping work for."""
    try:
        report(node_home, client)
    except MedFedError as exc:
        logger.warning("could not report this node's inventory: %s", exc.message)
