"""The node's credential file: written once at enrollment, mode 0600, never logged."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from medfed.core.errors import ConfigurationError
from medfed.core.files import write_private_file

CREDENTIAL_FILE = "credential.json"


@dataclass(frozen=True)
class NodeCredential:
    server_url: str
    node_id: int
    hospital_id: int
    hospital_name: str
    credential: str

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return (
            f"NodeCredential(server_url={self.server_url!r}, node_id={self.node_id}, "
            f"hospital_id={self.hospital_id}, credential='***')"
        )


def credential_path(node_home: Path) -> Path:
    return node_home / CREDENTIAL_FILE


def save_credential(node_home: Path, credential: NodeCredential) -> Path:
    path = credential_path(node_home)
    write_private_file(path, json.dumps(asdict(credential), indent=2) + "\n")
    return path


def load_credential(node_home: Path) -> NodeCredential | None:
    path = credential_path(node_home)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return NodeCredential(**data)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"The node credential at {path} is damaged ({type(exc).__name__}). "
            "Enroll again with `medfed node enroll --force`."
        ) from exc


def require_credential(node_home: Path) -> NodeCredential:
    """The node's credential, or a clear error saying how to enroll."""
    credential = load_credential(node_home)
    if credential is None:
        raise ConfigurationError(
            "This node is not enrolled. Run `medfed node enroll --server URL --token TOKEN`."
        )
    return credential
