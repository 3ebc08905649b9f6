"""Artifact storage behind one small interface; files under the home folder by default.

Artifacts are content-addressed (the key is the SHA-256 of the bytes), written atomically and
checked on every read, so a version's weights can never change or be half-written.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from medfed.core.errors import ServiceUnavailable


class ArtifactStore(Protocol):
    def put(self, blob: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("artifact keys are SHA-256 hex digests")
        return self.root / key[:2] / key

    def put(self, blob: bytes) -> str:
        key = hashlib.sha256(blob).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{key}.{secrets.token_hex(4)}.tmp")
        with temporary.open("wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise ServiceUnavailable(
                f"The model artifact {key[:12]}… is missing from {self.root}."
            ) from None
        if hashlib.sha256(blob).hexdigest() != key:
            raise ServiceUnavailable(
                f"The model artifact {key[:12]}… is corrupted; restore it from backup."
            )
        return blob

    def exists(self, key: str) -> bool:
        return self._path(key).exists()
