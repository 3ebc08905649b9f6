"""`medfed node registry …` as staff run it, in real processes (one killed mid-import)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medfed.node.registry.store import Registry
from tests.utils.processes import run_medfed

DIAGNOSES = "hadm_id,icd_code,icd_version,seq_num\n"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDFED_")}
    return {**env, "MEDFED_NODE_HOME": str(tmp_path / "node"), "MEDFED_HOME": str(tmp_path / "srv")}


@pytest.mark.slow
def test_register_admit_diagnose_and_refuse_from_the_command_line(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = run_medfed(
        ["node", "registry", "register", "--name", "Ada Lovelace", "--local-id", "MRN-1"], env
    )
    assert made.returncode == 0, made.stderr
    secure_id = made.stdout.split(" as ")[1].strip()
    assert (
        run_medfed(["node", "registry", "admit", secure_id, "--hadm-id", "1001"], env).returncode
        == 0
    )
    added = run_medfed(["node", "registry", "diagnose", "1001", "I214", "--seq-num", "1"], env)
    assert "ICD-10 I21.4 Non-ST elevation (NSTEMI) myocardial infarction" in added.stdout
    refused = run_medfed(["node", "registry", "diagnose", "1001", "4280", "--seq-num", "2"], env)
    assert refused.returncode == 1
    assert "it is the ICD-9-CM code for" in " ".join(refused.stderr.split())
    shown = run_medfed(["node", "registry", "show", secure_id], env)
    assert "Ada Lovelace" in shown.stdout and "I21.4" in shown.stdout
    listed = run_medfed(["node", "registry", "list", secure_id[:6]], env)
    assert secure_id in listed.stdout


@pytest.mark.slow
def test_a_node_killed_mid_import_keeps_no_half_imported_admission(tmp_path: Path) -> None:
    home = tmp_path / "node"
    registry = Registry(home)
    ada = registry.register("Ada Lovelace", "MRN-1")
    registry.admit(ada.secure_id, "1001")
    registry.admit(ada.secure_id, "1002")
    rows = "".join(f"{1001 + i % 2},I10,10,{i // 2 + 1}\n" for i in range(40))
    (tmp_path / "diagnoses.csv").write_text(DIAGNOSES + rows)
    env = _env(tmp_path)
    killed = run_medfed(
        ["node", "registry", "import", str(tmp_path / "diagnoses.csv")],
        {**env, "MEDFED_FAULT_POINT": "registry:mid_import"},
    )
    assert killed.returncode == -9, killed.stderr  # SIGKILL after two of the 40 rows were written
    assert Registry(home).counts()["diagnoses"] == 0
    done = run_medfed(["node", "registry", "import", str(tmp_path / "diagnoses.csv")], env)
    assert done.returncode == 0, done.stderr
    assert "Imported 40 diagnoses for 2 admissions" in done.stdout
    assert Registry(home).counts()["diagnoses"] == 40
