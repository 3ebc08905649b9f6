"""The hospital's saved column mappings: which column of an export of a given shape is which
feature, in which unit, per disease. Kept in the node's home as one JSON file, replaced whole
(written beside it, then renamed), so a crash leaves the old file or the new one."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medfed.core.clock import isoformat, utcnow
from medfed.core.columns import Choice, signature
from medfed.node.intake import IntakeRefused

FILE_NAME = "column-mappings.json"
VERSION = 1


@dataclass(frozen=True)
class SavedMapping:
    disease: str
    signature: str
    header: list[str]
    choices: list[Choice]
    saved_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "disease": self.disease,
            "signature": self.signature,
            "header": self.header,
            "columns": [
                {"column": c.header, "role": c.role, "feature": c.feature, "unit": c.unit}
                for c in self.choices
            ],
            "saved_at": self.saved_at,
        }


@dataclass
class MappingBook:
    """Every mapping a hospital saved; `find` picks the one for a file's disease and shape."""

    mappings: list[SavedMapping] = field(default_factory=list)

    def find(self, disease: str, header: list[str]) -> SavedMapping | None:
        key = signature(header)
        return next((m for m in self.mappings if m.disease == disease and m.signature == key), None)

    def saved_for_others(self, disease: str, header: list[str]) -> list[str]:
        """Diseases with a mapping for exactly these columns (never applied to another)."""
        key = signature(header)
        return sorted({m.disease for m in self.mappings if m.signature == key} - {disease})


def path_of(node_home: Path) -> Path:
    return node_home / FILE_NAME


def load(node_home: Path) -> MappingBook:
    path = path_of(node_home)
    if not path.exists():
        return MappingBook()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mappings = [
            SavedMapping(
                m["disease"],
                m["signature"],
                list(m["header"]),
                [
                    Choice(c["column"], c["role"], c.get("feature"), c.get("unit"), "saved")
                    for c in m["columns"]
                ],
                m.get("saved_at", ""),
            )
            for m in data["mappings"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IntakeRefused(
            f"{path} is not a readable mapping file ({error}); move it away and map the "
            "columns again with `medfed node map`"
        ) from None
    return MappingBook(mappings)


def save(node_home: Path, disease: str, header: list[str], choices: list[Choice]) -> SavedMapping:
    """Keep this mapping for every later file of this disease with the same columns (replacing
    the one saved before for them)."""
    book = load(node_home)
    saved = SavedMapping(disease, signature(header), list(header), choices, isoformat(utcnow()))
    kept = [m for m in book.mappings if (m.disease, m.signature) != (disease, saved.signature)]
    body = {"version": VERSION, "mappings": [m.as_json() for m in [*kept, saved]]}
    node_home.mkdir(parents=True, exist_ok=True)
    path = path_of(node_home)
    partial = path.with_suffix(".json.partial")
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(body, handle, indent=2, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return saved
