"""`medfed node predict --patient`: a registered admission scored with both models the node
holds, from the command line; the registry's inputs, nothing typed twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfed.core.catalog import get_disease
from medfed.ml.baseline import train_baseline
from medfed.ml.datasets import load_dataset
from medfed.node.held_models import HeldModel, keep
from medfed.node.registry.store import Registry
from tests.utils.processes import medfed_env, run_medfed


@pytest.mark.own_database
def test_a_registered_admission_is_scored_with_both_models(
    tmp_path: Path, datasets_dir: Path
) -> None:
    home = tmp_path / "node"
    spec = get_disease("comorbidity_risk")
    model = train_baseline(spec, load_dataset(spec, datasets_dir), seed=1).model
    scores = {"rows": 120, "roc_auc": 0.86, "brier": 0.39}
    keep(home, model, HeldModel(spec.id, "global", "v1.3", "v1.3", "t", scores))
    own = model.with_parameters(model.parameters * 0.8)
    keep(
        home,
        own,
        HeldModel(
            spec.id, "local", "v1.3+local-1", "v1.3", "t", {**scores, "roc_auc": 0.88}, epsilon=0.7
        ),
    )
    registry = Registry(home)
    patient = registry.register("Grace Hopper", "MRN-1906", 1946)
    registry.admit(patient.secure_id, "T-77", "2026-11-30")
    registry.admit(patient.secure_id, "T-78")
    registry.diagnose("T-77", "C78.00", 10, 1)
    registry.diagnose("T-77", "428.0", 9, 2)
    env = medfed_env(tmp_path / "server-home", "sqlite://", node_home=home)

    done = run_medfed(
        ["node", "predict", "--patient", patient.secure_id, "--admission", "T-77"], env
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert f"{patient.secure_id}, admission T-77: 2 diagnoses" in out
    assert "Congestive heart failure (428.0 (as I50.9))" in out
    assert "network's model v1.3" in out and "this hospital's own model v1.3+local-1" in out
    assert "Low " in out and "Medium " in out and "High " in out  # every class's chance
    assert "AUC 0.880 (own model) vs 0.860 (network's)" in out

    empty = run_medfed(["node", "predict", "--patient", patient.secure_id], env)  # latest: T-78
    assert empty.returncode != 0 and "T-78 has no diagnoses yet" in empty.stdout + empty.stderr
    mixed = run_medfed(["node", "predict", "--patient", patient.secure_id, "--value", "age=3"], env)
    assert mixed.returncode != 0 and "leave out --value" in mixed.stdout + mixed.stderr
    unknown = run_medfed(["node", "predict", "--patient", "P-0000000000000000"], env)
    assert (
        unknown.returncode != 0
        and "no patient P-0000000000000000" in unknown.stdout + unknown.stderr
    )
