"""The models a node holds, and what it would tell the network about them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medfed.core.errors import NotFound
from medfed.ml.model import Architecture, DiseaseModel
from medfed.ml.preprocess import FeatureStats, Preprocessor
from medfed.node.held_models import HeldModel, held, keep, load
from medfed.node.inventory import collect
from medfed.node.local_predict import compare
from medfed.node.policy import LocalPolicy, save_policy
from medfed.node.registry.store import Registry


def _model(weight: float) -> DiseaseModel:
    preprocessor = Preprocessor((FeatureStats("x", "number", 0.0),))
    return DiseaseModel(
        "heart",
        "h" * 64,
        Architecture("logistic"),
        preprocessor,
        np.asarray([weight, 0.0]),
        np.zeros((2, 1)),
    )


def test_kept_models_come_back_whole_with_their_description(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="medfed node personalise"):
        load(tmp_path, "heart", "local")
    metrics = {"rows": 40, "roc_auc": 0.8, "brier": 0.2}
    keep(tmp_path, _model(1.0), HeldModel("heart", "global", "v1.2", "v1.2", "t", metrics))
    keep(
        tmp_path,
        _model(2.0),
        HeldModel("heart", "local", "v1.2+local-ab", "v1.2", "t", metrics, "ab", 0.5, 160),
    )
    assert [(m.kind, m.version) for m in held(tmp_path)] == [
        ("global", "v1.2"),
        ("local", "v1.2+local-ab"),
    ]
    model, info = load(tmp_path, "heart", "local")
    assert model.parameters[0] == 2.0 and info.epsilon == 0.5
    folder = tmp_path / "models" / "heart"
    assert oct((folder / info.artifact).stat().st_mode & 0o777) == "0o600"
    # Keeping a new local model replaces the old one's artifact once it is described.
    newer = keep(tmp_path, _model(3.0), replace(info, version="v1.3+local-cd"))
    assert load(tmp_path, "heart", "local")[0].parameters[0] == 3.0
    assert sorted(p.name for p in folder.glob("local-*.npz")) == [newer.artifact]
    (folder / newer.artifact).unlink()  # a description whose artifact is gone is not held
    assert [m.kind for m in held(tmp_path)] == ["global"]


def test_a_crash_before_the_description_keeps_the_previous_model(tmp_path: Path) -> None:
    first = keep(tmp_path, _model(1.0), HeldModel("heart", "local", "v1", "v1", "t"))
    folder = tmp_path / "models" / "heart"
    (folder / "local-0123456789abcdef.npz").write_bytes(_model(9.0).to_bytes())  # then the crash
    model, info = load(tmp_path, "heart", "local")
    assert model.parameters[0] == 1.0 and info.artifact == first.artifact


def test_the_inventory_is_counts_and_versions_unless_the_hospital_says_no(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    patient = registry.register("Ada Lovelace", "MRN-1")
    registry.admit(patient.secure_id, "1001")
    keep(tmp_path, _model(1.0), HeldModel("heart", "global", "v1.2", "v1.2", "t"))
    report = collect(tmp_path)
    assert report["registry"] == {"patients": 1, "admissions": 1, "diagnoses": 0}
    assert [m["version"] for m in report["models"]] == ["v1.2"]
    assert "Ada" not in str(report) and patient.secure_id not in str(report)
    save_policy(tmp_path, LocalPolicy(share_inventory=False))
    assert collect(tmp_path)["registry"] is None and collect(tmp_path)["models"] == []


def test_the_comparison_says_which_model_fits_and_how_sure_that_is() -> None:
    served = {"kind": "global", "validation": {"rows": 60, "roc_auc": 0.80, "brier": 0.20}}
    own = {"kind": "local", "validation": {"rows": 60, "roc_auc": 0.85, "brier": 0.18}}
    said = compare([served, own])
    assert "AUC 0.850 (own model) vs 0.800" in said and "hospital's own model ranks" in said
    assert "may be noise" in said
    assert compare([served]).startswith("Only one model")
