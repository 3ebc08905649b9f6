"""The registry's two keys, held only in the node home: one seals records, one makes pseudonyms.

`registry.key` (mode 0600) holds a Fernet key (AES-128-CBC with HMAC-SHA256, from `cryptography`)
that encrypts every name, local identifier, admission number and diagnosis at rest, and a 256-bit
HMAC-SHA256 key that turns a local identifier into the patient's secure ID. Without the file the
registry cannot be read and secure IDs cannot be recomputed: it is backed up apart from the
database, and it never leaves the node.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from medfed.core.files import write_private_file

KEY_FILE = "registry.key"
SECURE_ID_PREFIX = "P-"
SECURE_ID_HEX = 16  # 64 bits of the keyed hash: collisions need ~4 billion patients


class RegistryKeyError(RuntimeError):
    """The key file is missing where data exists, unreadable or damaged."""


@dataclass(frozen=True)
class RegistryKeys:
    seal_key: bytes
    pseudonym_key: bytes

    def seal(self, record: dict[str, Any]) -> bytes:
        return Fernet(self.seal_key).encrypt(json.dumps(record, sort_keys=True).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(Fernet(self.seal_key).decrypt(sealed))
        except InvalidToken as exc:
            raise RegistryKeyError(
                "a registry record does not open with this node's registry.key: the key file "
                "was replaced; restore the one this registry was written with"
            ) from exc
        return data

    def keyed_hash(self, kind: str, value: str) -> str:
        digest = hmac.new(self.pseudonym_key, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return digest.hexdigest()

    def secure_id(self, local_id: str) -> str:
        """The patient's pseudonym: stable for one node, meaningless anywhere else."""
        return SECURE_ID_PREFIX + self.keyed_hash("patient", local_id)[:SECURE_ID_HEX].upper()


def load_or_create(node_home: Path, *, create: bool) -> RegistryKeys:
    """The node's registry keys; made once (atomically, 0600) when `create` is true."""
    path = node_home / KEY_FILE
    if not path.exists():
        if not create:
            raise RegistryKeyError(
                f"{path} is missing but the registry has records: restore the key file from its "
                "backup (without it the records cannot be read)"
            )
        _create_once(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        seal, pseudonym = data["seal"].encode(), bytes.fromhex(data["pseudonym"])
        Fernet(seal)  # a damaged key fails here, not at the first record
        if len(pseudonym) != 32:
            raise ValueError("the pseudonym key is not 256 bits")
        return RegistryKeys(seal, pseudonym)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RegistryKeyError(f"{path} is damaged: restore it from its backup") from exc


def _create_once(path: Path) -> None:
    """New keys, unless another process made them first (theirs are then the ones)."""
    content = json.dumps(
        {"seal": Fernet.generate_key().decode(), "pseudonym": secrets.token_hex(32)}
    )
    write_private_file(path, content, only_if_absent=True)
