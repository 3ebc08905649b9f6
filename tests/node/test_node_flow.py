"""The node against a real server process over real HTTP, as a hospital would run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core import frames
from medfed.core.catalog import get_disease
from medfed.core.config import Settings
from medfed.ml.datasets import load_dataset
from medfed.ml.train import TrainingConfig, train_parameters
from medfed.node.client import ServerClient
from medfed.node.credential import load_credential
from medfed.node.registry.store import Registry
from medfed.node.training import TrainRequest, run_training
from medfed.server.db.tables import Contribution, PrivacySpend
from medfed.server.services import registry
from medfed.server.storage import LocalArtifactStore
from tests.node.conftest import LiveNetwork, site_csv
from tests.utils.processes import run_medfed
from tests.utils.proxy import request_sent


def enroll(network: LiveNetwork, hospital: str = "Cleveland Clinic") -> None:
    token = network.new_enrollment_token(hospital)
    result = run_medfed(
        ["node", "enroll", "--server", network.server.url, "--token", token], network.env
    )
    assert result.returncode == 0, result.stderr


def test_check_train_contribute_and_report_the_ledger(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path, trained_db: Session
) -> None:
    enroll(live_network)
    csv_path = site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv")
    checked = run_medfed(["node", "check", str(csv_path), "--disease", "heart"], live_network.env)
    assert checked.returncode == 0 and "303 usable rows of 303" in checked.stdout
    trained = run_medfed(
        ["node", "train", str(csv_path), "--disease", "heart", "--epsilon", "1.0"], live_network.env
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert re.search(r"epsilon 0\.9\d\d, delta", trained.stdout)
    refused = run_medfed(["node", "contribute"], live_network.env)
    assert refused.returncode == 1 and "Buffered contributions are off" in refused.stderr
    live_network.enable_buffer()
    contributed = run_medfed(["node", "contribute"], live_network.env)
    assert contributed.returncode == 0 and "accepted for heart" in contributed.stdout
    assert "1 of the 3 contributions needed" in contributed.stdout
    contribution = trained_db.scalars(select(Contribution)).one()
    assert contribution.disease == "heart" and 200 <= contribution.rows < 303
    assert contribution.epsilon is not None and contribution.epsilon <= 1.0
    spend = trained_db.scalars(select(PrivacySpend)).one()
    assert spend.epsilon == contribution.epsilon and spend.entry_ref == contribution.job_ref
    again = run_medfed(["node", "contribute"], live_network.env)
    assert again.returncode == 1 and "no trained job" in again.stderr


def test_the_hospitals_own_cap_wins_and_says_what_is_left(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path
) -> None:
    enroll(live_network)
    csv_path = site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv")
    assert (
        run_medfed(["node", "policy", "set", "--epsilon-cap", "1.2"], live_network.env).returncode
        == 0
    )
    first = run_medfed(
        ["node", "train", str(csv_path), "--disease", "heart", "--epsilon", "1.0", "--epochs", "1"],
        live_network.env,
    )
    assert first.returncode == 0, first.stderr
    second = run_medfed(
        ["node", "train", str(csv_path), "--disease", "heart", "--epsilon", "1.0", "--epochs", "1"],
        live_network.env,
    )
    # Composed with the first, a second contribution at epsilon 1 adds about 0.3, not 1:
    # still more than the 0.2 the hospital's cap leaves.
    assert second.returncode == 1
    assert "cap 1.2" in second.stderr and "would spend epsilon 0.3" in second.stderr
    assert (
        run_medfed(["node", "policy", "set", "--diseases", "diabetes"], live_network.env).returncode
        == 0
    )
    refused = run_medfed(["node", "train", str(csv_path), "--disease", "heart"], live_network.env)
    assert refused.returncode == 1 and "local policy does not train 'heart'" in refused.stderr


def test_a_bad_file_leaves_the_node_usable(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path
) -> None:
    enroll(live_network)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "patient_name,"
        + "age,sex,cp,trestbps,thalach,exang,oldpeak,num\n"
        + "Ann Lee,50,1,4,130,150,0,1.0,1\n" * 250
    )
    result = run_medfed(["node", "train", str(bad), "--disease", "heart"], live_network.env)
    assert (
        result.returncode == 1
        and "patient_name" in result.stderr
        and "Ann Lee" not in result.stderr
    )
    status = run_medfed(["node", "status"], live_network.env)
    assert status.returncode == 0
    jobs = run_medfed(["node", "jobs"], live_network.env)
    assert "failed" in jobs.stdout


def test_local_training_beats_a_global_model_that_has_not_seen_the_site(
    live_network: LiveNetwork,
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
    trained_settings: Settings,
) -> None:
    """A hospital joining the network: the global model knows the other three sites only."""
    spec = get_disease("heart")
    data = load_dataset(spec, datasets_dir)
    store = LocalArtifactStore(trained_settings.resolved_artifacts_dir)
    v10 = registry.ModelCache(store).get(registry.active_version(trained_db, "heart"))
    others = data.subset(np.flatnonzero(np.asarray(data.sites) != "cleveland"))
    parameters = train_parameters(
        v10.architecture,
        v10.preprocessor.transform(others.rows),
        others.labels,
        TrainingConfig(epochs=300, learning_rate=0.05, weight_decay=1e-2, seed=0),
    )
    registry.register_version(
        trained_db,
        store,
        v10.with_parameters(parameters),
        metrics={},
        card={},
        provenance={"source": "test: three sites"},
        contributing_hospitals=3,
        activate=True,
        actor="test",
    )
    trained_db.commit()
    enroll(live_network)
    credential = load_credential(live_network.node_home)
    assert credential is not None
    csv_path = site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv")
    with ServerClient(credential.server_url, credential.credential) as client:
        result = run_training(
            live_network.node_home,
            client,
            TrainRequest(
                "heart", csv_path, epochs=20, learning_rate=0.1, target_epsilon=3.0, seed=5
            ),
        )
    before, after = result.metrics["global"], result.metrics["local"]
    assert result.base_version == "v1.1"
    assert after["brier"] < before["brier"] and after["accuracy"] >= before["accuracy"], (
        before,
        after,
    )


def test_what_leaves_the_node_is_only_the_update_and_numbers(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path
) -> None:
    from tests.utils.proxy import recording_proxy

    names = [f"SENTINELNAME{i:04d} Person" for i in range(303)]
    notes = [f"sentinel-note-{i:04d}" for i in range(303)]
    csv_path = site_csv(
        datasets_dir,
        "cleveland",
        tmp_path / "leak.csv",
        {"patient_name": names, "free_notes": notes},
    )
    rows = csv_path.read_text().splitlines()[1:]
    # The hospital's registry holds patients, admissions and diagnoses at the same node.
    kept = Registry(live_network.node_home)
    secure_ids = []
    for i in range(3):
        patient = kept.register(f"SENTINELNAME{i} Registered", f"SENTINEL-MRN-{i}", 1950 + i)
        kept.admit(patient.secure_id, f"SENTINEL-HADM-{i}")
        kept.diagnose(f"SENTINEL-HADM-{i}", "I21.4", 10, 1)
        kept.diagnose(f"SENTINEL-HADM-{i}", "428.0", 9, 2)
        secure_ids.append(patient.secure_id)
    port = int(live_network.server.url.rsplit(":", 1)[1])
    live_network.enable_buffer()
    with recording_proxy(port) as proxy:
        token = live_network.new_enrollment_token("Sentinel Hospital")
        url = f"http://127.0.0.1:{proxy.port}"
        assert (
            run_medfed(
                ["node", "enroll", "--server", url, "--token", token], live_network.env
            ).returncode
            == 0
        )
        trained = run_medfed(
            ["node", "train", str(csv_path), "--disease", "heart", "--drop-column", "patient_name"],
            live_network.env,
        )
        assert trained.returncode == 0, trained.stderr
        assert run_medfed(["node", "contribute"], live_network.env).returncode == 0
        reported = run_medfed(["node", "report"], live_network.env)
        assert reported.returncode == 0, reported.stderr
        assert "3 patients / 3 admissions / 6 diagnoses registered" in reported.stdout
        sent = bytes(proxy.sent)
    assert len(sent) > 1000, "the proxy saw the traffic"
    lowered = sent.lower()
    assert b"sentinel" not in lowered  # no name, record or admission number, from file or registry
    for secure_id in secure_ids:
        assert secure_id.encode() not in sent and secure_id[2:].lower().encode() not in lowered
    for code in (b"I21.4", b"I214", b"428.0", b"4280", b"I50.9"):
        assert code not in sent
    assert b"PRIVATE KEY" not in sent and b"CERTIFICATE REQUEST" in sent  # the key stays home
    for row in rows[:50]:
        data_part = row.split(",", 2)[2]
        assert data_part.encode() not in sent
    requests = re.findall(rb"(GET|POST|PUT) (/\S+) HTTP/1\.1", sent)
    paths = sorted({path.decode() for _, path in requests})
    assert paths == [
        "/api/v1/nodes/authority",  # the pinned certificate authority, before anything is sent
        "/api/v1/nodes/contributions",
        "/api/v1/nodes/enroll",
        "/api/v1/nodes/me/inventory",  # counts only: checked below
        "/api/v1/nodes/models/heart?line=training",
        "/api/v1/nodes/policy",
        "/api/v1/nodes/privacy-spend",
    ]
    _, inventory = request_sent(sent, "PUT /api/v1/nodes/me/inventory")
    assert json.loads(inventory)["registry"] == {"patients": 3, "admissions": 3, "diagnoses": 6}
    head, body = request_sent(sent, "POST /api/v1/nodes/contributions")
    assert b"content-type: application/octet-stream" in head.lower()  # a binary frame
    fields, update = frames.unpack(body)
    assert set(fields) == {
        "disease",
        "base_version",
        "job_ref",
        "rows",
        "epsilon",
        "delta",
        "metrics",
    }
    assert set(fields["metrics"]) == {"global", "local"}
    assert len(update) % 4 == 0  # the float32 update, nothing else


def test_check_uses_the_networks_row_minimum(
    trained_settings: Settings, datasets_dir: Path, tmp_path: Path
) -> None:
    from tests.utils.processes import medfed_env, running_server

    env = medfed_env(
        tmp_path / "server-home",
        trained_settings.resolved_database_url,
        tmp_path / "node",
        MEDFED_ARTIFACTS_DIR=str(trained_settings.resolved_artifacts_dir),
        MEDFED_POLICY_MIN_ROWS="400",
    )
    csv_path = site_csv(datasets_dir, "cleveland", tmp_path / "cleveland.csv")
    offline = run_medfed(["node", "check", str(csv_path), "--disease", "heart"], env)
    assert offline.returncode == 0 and "default minimum of 200" in offline.stdout
    with running_server(env, tmp_path / "server.log") as server:
        network = LiveNetwork(server, env, tmp_path / "node")
        enroll(network)
        checked = run_medfed(["node", "check", str(csv_path), "--disease", "heart"], env)
    assert checked.returncode == 1 and "needs at least 400" in checked.stdout
