"""Enrollment and status of this node."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medfed.core.errors import Conflict, InvalidInput, MedFedError
from medfed.core.security import split_enrollment_token
from medfed.node import tls
from medfed.node.client import ServerClient, check_server_url
from medfed.node.credential import (
    NodeCredential,
    load_credential,
    require_credential,
    save_credential,
)


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
    secret, pin = split_enrollment_token(token)
    name = node_name or socket.gethostname()[:120] or "node"
    context, authority_pem = None, None
    if pin:  # trust this network's authority, and only it, from the first request on
        authority_pem = tls.fetch_pinned_authority(url, pin)
        context = ssl.create_default_context(cadata=authority_pem)
    key, request = tls.new_request(name)
    with ServerClient(url, ssl_context=context) as client:
        answer = client.enroll(secret, name, request)
    issued = answer.get("certificate")
    # The key and certificates first, the credential last: a node is enrolled once its
    # credential file exists, and then everything it needs is already there.
    if authority_pem is not None:
        tls.save_authority(node_home, authority_pem)
    if issued:
        tls.save_identity(node_home, str(issued["certificate"]), key)
    credential = NodeCredential(
        server_url=url,
        node_id=int(answer["node_id"]),
        hospital_id=int(answer["hospital_id"]),
        hospital_name=str(answer["hospital_name"]),
        credential=str(answer["credential"]),
    )
    save_credential(node_home, credential)
    return credential


def renew_certificate(node_home: Path) -> str:
    """A new client certificate for this node now (a running node renews on its own); also how
    a node enrolled before the network issued certificates gets its first one."""
    credential = require_credential(node_home)
    with tls.client_for(node_home, credential) as client:
        name = str(client.whoami()["name"])
        return tls.renew(node_home, client, name)


def set_credential(node_home: Path, new_credential: str) -> NodeCredential:
    """Install a credential an administrator rotated for this node, after the server confirms it
    belongs to this very node (a credential of another node or hospital is refused, and the
    file is left as it was)."""
    current = require_credential(node_home)
    secret = new_credential.strip()
    if not secret:
        raise InvalidInput("No credential given: paste the one the administrator was shown.")
    with ServerClient(current.server_url, secret, ssl_context=tls.ssl_context(node_home)) as client:
        me = client.whoami()
    if int(me["id"]) != current.node_id or int(me["hospital_id"]) != current.hospital_id:
        raise Conflict(
            f"That credential belongs to node {me['id']} of hospital {me['hospital_id']}, not to "
            f"this node ({current.node_id} of {current.hospital_name}); nothing was changed."
        )
    rotated = replace(current, credential=secret)
    save_credential(node_home, rotated)
    return rotated


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
        with tls.client_for(node_home, credential) as client:
            return NodeStatus(True, credential, client.whoami(), None)
    except MedFedError as exc:  # status reports the problem instead of failing
        return NodeStatus(True, credential, None, exc.message)
