"""Enrollment and status of this node."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medfed.core.errors import Conflict, MedFedError
from medfed.node.client import ServerClient, check_server_url
from medfed.node.credential import NodeCredential, load_credential, save_credential


def enroll(
    node_home: Path,
    server_url: str,
    token: str,
    *,
    node_name: str | None = None,
    force: bool = False,
) -> NodeCredential:
    url = check_server_url(server_url)
    existing = load_credential(node_home)
    if existing is not None and not force:
        raise Conflict(
            f"This node is already enrolled as node {existing.node_id} of "
            f"{existing.hospital_name} at {existing.server_url}. Use --force to replace it."
        )
    with ServerClient(url) as client:
        answer = client.enroll(token.strip(), node_name or socket.gethostname()[:120] or "node")
    credential = NodeCredential(
        server_url=url,
        node_id=int(answer["node_id"]),
        hospital_id=int(answer["hospital_id"]),
        hospital_name=str(answer["hospital_name"]),
        credential=str(answer["credential"]),
    )
    save_credential(node_home, credential)
    return credential


@dataclass(frozen=True)
class NodeStatus:
    enrolled: bool
    credential: NodeCredential | None
    server: dict[str, Any] | None
    server_error: str | None


def status(node_home: Path) -> NodeStatus:
    credential = load_credential(node_home)
    if credential is None:
        return NodeStatus(False, None, None, None)
    try:
        with ServerClient(credential.server_url, credential.credential) as client:
            return NodeStatus(True, credential, client.whoami(), None)
    except MedFedError as exc:  # status reports the problem instead of failing
        return NodeStatus(True, credential, None, exc.message)
