"""Download the public datasets named by the catalog, keeping only files whose SHA-256 matches."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from medfed.core.catalog import load_catalog


@dataclass(frozen=True)
class FetchOutcome:
    path: str
    status: str  # "kept", "downloaded", or "failed: reason"


def fetch_datasets(
    dest: Path, base_url: str | None = None, timeout: float = 60.0
) -> list[FetchOutcome]:
    """Each file from its spec URL (or base_url + its relative path); never keeps a bad download."""
    outcomes = []
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for spec in load_catalog().values():
            for entry in spec.dataset.files:
                target = dest / entry.path
                if target.exists() and _sha256(target.read_bytes()) == entry.sha256:
                    outcomes.append(FetchOutcome(entry.path, "kept"))
                    continue
                url = urljoin(base_url.rstrip("/") + "/", entry.path) if base_url else entry.url
                if url is None:  # made by MedFed (the synthetic cohort), not downloaded
                    outcomes.append(
                        FetchOutcome(
                            entry.path,
                            "skipped: not downloaded; MedFed ships it and `medfed datasets "
                            "synthesize` writes it again",
                        )
                    )
                    continue
                outcomes.append(
                    FetchOutcome(entry.path, _download(client, url, target, entry.sha256))
                )
    _write_checksums(dest)
    return outcomes


def _download(client: httpx.Client, url: str, target: Path, expected: str) -> str:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"failed: cannot reach {url} ({type(exc).__name__}); is this machine online?"
    if response.status_code != 200:
        return f"failed: {url} answered {response.status_code}"
    actual = _sha256(response.content)
    if actual != expected:
        return f"failed: {url} is not the expected file (SHA-256 {actual[:12]}…, expected {expected[:12]}…)"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_bytes(response.content)
    os.replace(temporary, target)
    return "downloaded"


def _write_checksums(dest: Path) -> None:
    lines = []
    for spec in load_catalog().values():
        for entry in spec.dataset.files:
            if (dest / entry.path).exists():
                lines.append(f"{entry.sha256}  {entry.path}")
    if lines:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "SHA256SUMS").write_text(
            "\n".join(sorted(lines, key=lambda line: line.split()[1])) + "\n"
        )


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
