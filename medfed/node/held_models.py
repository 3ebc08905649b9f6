"""The models this node holds: the network's served (global) model and the hospital's own model
(the global one fine-tuned here with DP), per disease, with both scored on the same local
validation rows so staff can see which fits their patients better.

Files live in `models/<disease>/` in the node home: `global.npz` and `local.npz` (artifacts in
MedFed's model format) each beside a `.json` with where it came from and its local metrics. Each
file is written whole (temporary file, fsync, rename), so a crash leaves the previous pair or
the new one, never half of either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _folder(node_home: Path, disease: str) -> Path:
    return node_home / "models" / disease


def keep(node_home: Path, model: DiseaseModel, info: HeldModel) -> HeldModel:
    """Write the artifact, then its description (a description never names a missing file)."""
    folder = _folder(node_home, info.disease)
    write_private_file(folder / f"{info.kind}.npz", model.to_bytes())
    write_private_file(folder / f"{info.kind}.json", json.dumps(info.as_dict(), indent=1))
    return info


def held(node_home: Path, disease: str | None = None) -> list[HeldModel]:
    """Every model held, by disease then kind."""
    root = node_home / "models"
    if disease:
        diseases = [disease]
    else:
        diseases = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = []
    for name in diseases:
        for kind in KINDS:
            described = _folder(node_home, name) / f"{kind}.json"
            if described.is_file() and described.with_suffix(".npz").is_file():
                found.append(HeldModel(**json.loads(described.read_text(encoding="utf-8"))))
    return found


def load(node_home: Path, disease: str, kind: Kind) -> tuple[DiseaseModel, HeldModel]:
    folder = _folder(node_home, disease)
    described, artifact = folder / f"{kind}.json", folder / f"{kind}.npz"
    if not (described.is_file() and artifact.is_file()):
        raise NotFound(
            f"This node holds no {kind} {disease} model yet: run medfed node personalise FILE "
            f"--disease {disease} (it fetches the global model and fine-tunes the local one).",
            field="disease",
        )
    info = HeldModel(**json.loads(described.read_text(encoding="utf-8")))
    return DiseaseModel.from_bytes(artifact.read_bytes()), info
