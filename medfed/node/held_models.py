"""The models this node holds: the network's served (global) model and the hospital's own model
(the global one fine-tuned here with DP), per disease, with both scored on the same local
validation rows so staff can see which fits their patients better.

Files live in `models/<disease>/` in the node home: `global.json` and `local.json` say where
each model came from, its local metrics and which artifact holds it (`<kind>-<sha256>.npz`, in
MedFed's model format). The artifact is written first under its own name, then the description
(each file whole: temporary file, fsync, rename), then older artifacts are removed: a crash at
any point leaves a description naming a complete artifact, the previous one or the new one. The
local model names the global version it was fine-tuned from, so a crash between keeping the
two shows as a local model based on an older global one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from medfed.core.errors import NotFound
from medfed.core.files import write_private_file
from medfed.ml.model import DiseaseModel

Kind = Literal["global", "local"]
KINDS: tuple[Kind, ...] = ("global", "local")


@dataclass(frozen=True)
class HeldModel:
    disease: str
    kind: Kind
    version: str  # the served version ("v1.3"), or the local model's name ("v1.3+local-<job>")
    base_version: str  # the global version it came from (itself, for a global model)
    kept_at: str
    metrics: dict[str, Any] = field(default_factory=dict)  # on this node's validation rows
    job_id: str | None = None
    epsilon: float | None = None  # what fine-tuning cost (local models)
    rows_train: int | None = None
    artifact: str = ""  # the file in the disease's folder that holds it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _folder(node_home: Path, disease: str) -> Path:
    return node_home / "models" / disease


def keep(node_home: Path, model: DiseaseModel, info: HeldModel) -> HeldModel:
    """Write the artifact, then the description naming it, then drop the artifacts it replaced."""
    folder = _folder(node_home, info.disease)
    blob = model.to_bytes()
    name = f"{info.kind}-{hashlib.sha256(blob).hexdigest()[:16]}.npz"
    write_private_file(folder / name, blob)
    kept = replace(info, artifact=name)
    write_private_file(folder / f"{info.kind}.json", json.dumps(kept.as_dict(), indent=1))
    for older in folder.glob(f"{info.kind}-*.npz"):
        if older.name != name:
            older.unlink(missing_ok=True)
    return kept


def _described(node_home: Path, disease: str, kind: Kind) -> HeldModel | None:
    """The description of a held model whose artifact is there, or None."""
    folder = _folder(node_home, disease)
    described = folder / f"{kind}.json"
    if not described.is_file():
        return None
    info = HeldModel(**json.loads(described.read_text(encoding="utf-8")))
    return info if info.artifact and (folder / info.artifact).is_file() else None


def held(node_home: Path, disease: str | None = None) -> list[HeldModel]:
    """Every model held, by disease then kind."""
    root = node_home / "models"
    if disease:
        diseases = [disease]
    else:
        diseases = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = [_described(node_home, name, kind) for name in diseases for kind in KINDS]
    return [info for info in found if info is not None]


def load(node_home: Path, disease: str, kind: Kind) -> tuple[DiseaseModel, HeldModel]:
    info = _described(node_home, disease, kind)
    if info is None:
        raise NotFound(
            f"This node holds no {kind} {disease} model yet: run medfed node personalise FILE "
            f"--disease {disease} (it fetches the global model and fine-tunes the local one).",
            field="disease",
        )
    artifact = _folder(node_home, disease) / info.artifact
    return DiseaseModel.from_bytes(artifact.read_bytes()), info
