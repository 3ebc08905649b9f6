"""Atomic, private file writes: secrets and credentials are never half-written or world-readable."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private_file(path: Path, content: str | bytes, *, only_if_absent: bool = False) -> bool:
    """Write `content` to `path` with mode 0600, atomically (temp file, fsync, rename).

    With `only_if_absent`, a file already there (another process's, made first) is kept and
    False returned: the new file is linked into place, which fails rather than replaces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        data = content.encode("utf-8") if isinstance(content, str) else content
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if only_if_absent:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            finally:
                temporary.unlink(missing_ok=True)
            return True
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)
    return True
