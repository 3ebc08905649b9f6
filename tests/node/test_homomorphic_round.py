"""Homomorphic rounds (CKKS): over real node processes, the server adds ciphertexts it cannot
read under a key only the hospitals hold, and ends with the weighted mean of their updates."""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.errors import ServiceUnavailable
from medfed.ml.model import DiseaseModel
from medfed.node.rounds import RoundAgent
from medfed.server.db.tables import AuditEvent
from tests.node.conftest import admin_headers, open_heart_round, round_state
from tests.node.test_rounds import _finish_with_a_quitter, _site_agents
from tests.utils.processes import ServerProcess, medfed_env, run_medfed


def _node_secret(home: Path) -> bytes:
    with sqlite3.connect(home / "node.db") as connection:
        (saved,) = connection.execute("SELECT secagg FROM rounds WHERE round_id = 1").fetchone()
    return bytes.fromhex(json.loads(saved)["he_secret"])


@pytest.mark.own_database
def test_an_he_round_over_three_node_processes_keeps_keys_and_updates_from_the_server(
    tmp_path: Path,
) -> None:
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}")
    work = tmp_path / "sim"
    done = run_medfed(
        [
            *("simulate", "--disease", "comorbidity_risk", "--hospitals", "natural"),
            *("--rounds", "1", "--homomorphic", "--workdir", str(work)),
            *("--output", str(tmp_path / "result.json")),
        ],
        env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (first,) = json.loads((tmp_path / "result.json").read_text())["rounds"]
    assert first["line_version"] == "v1.1"  # the round completed and joined the training line

    server_side = (
        b"".join(p.read_bytes() for p in (work / "server").rglob("*") if p.is_file())
        + (work / "server.log").read_bytes()
    )
    database = work / "server" / "medfed.db"
    with sqlite3.connect(database) as connection:
        contributions = dict(
            connection.execute("SELECT job_ref, rows FROM contributions").fetchall()
        )
        (candidate_key, base_id) = connection.execute(
            "SELECT candidate_key, base_version_id FROM rounds WHERE id = 1"
        ).fetchone()
        (base_key,) = connection.execute(
            "SELECT artifact_key FROM model_versions WHERE id = ?", (base_id,)
        ).fetchone()
    assert len(contributions) == 3
    weighted, total = 0.0, 0
    for index in range(3):
        home = work / f"node-{index}"
        assert "Sent the encrypted update for round 1" in (work / f"node-{index}.log").read_text()
        (job,) = (home / "jobs").iterdir()
        update = np.load(job / "update.npy").astype(np.float64)
        rows = contributions[job.name]
        weighted, total = weighted + rows * update, total + rows
        # The update, as the node holds it or as it went into the sum, is nowhere on the server.
        for values in (update[:4].astype("<f4"), (rows * update[:3]).astype("<f8")):
            assert values.tobytes() not in server_side
        assert f"{update[0]:.6f}".encode() not in (work / "server.log").read_bytes()
        secret = _node_secret(home)
        for form in (secret[1000:1064], secret.hex()[2000:2128].encode(),
                     base64.b64encode(secret)[2000:2128]):  # fmt: skip
            assert form not in server_side  # the round's secret key never reached the server
    artifacts = work / "server" / "artifacts"
    load = lambda key: DiseaseModel.from_bytes(next(artifacts.rglob(f"*{key}*")).read_bytes())  # noqa: E731
    moved = load(candidate_key).parameters - load(base_key).parameters
    assert np.max(np.abs(moved - weighted / total)) < 1e-6  # FedAvg of the plain updates


def _he_round(
    live_server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
    label: str,
    **config: object,
) -> tuple[list[RoundAgent], dict[str, str], dict[str, Any]]:
    """Three heart sites' agents, the admin's headers and an open homomorphic round."""
    agents = _site_agents(
        live_server, datasets_dir, tmp_path, ("cleveland", "hungarian", "va"), label
    )
    headers = admin_headers(live_server[0], trained_db)
    opened = open_heart_round(live_server[0], headers, protection="homomorphic", **config)
    assert opened.status_code == 201, opened.text
    return agents, headers, opened.json()


@pytest.mark.slow
def test_a_hospital_that_drops_after_encrypting_does_not_stop_the_round(
    live_server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    process = live_server[0]
    agents, headers, opened = _he_round(
        live_server, datasets_dir, tmp_path, trained_db, "HE",
        secagg_stage_seconds=10, submit_seconds=20,
    )  # fmt: skip
    round_id = int(opened["id"])
    assert opened["config"]["homomorphic"] is True
    quitter = agents[2]
    real_send = quitter.client.secagg_send
    refused: list[str] = []

    def sends_garbage_then_leaves(
        round_ref: int, stage: str, message: dict[str, object], vector: object = None
    ) -> object:
        if stage == "encrypted_input" and not refused:
            bad = np.frombuffer(b"not a ciphertext" * 8, dtype=np.uint8)
            try:
                real_send(round_ref, stage, message, bad)
            except Exception as problem:
                refused.append(str(problem))
        if stage == "decrypting":  # gone after its encrypted update was in
            raise ServiceUnavailable("node switched off")
        return real_send(round_ref, stage, message, vector)  # type: ignore[arg-type]

    quitter.client.secagg_send = sends_garbage_then_leaves  # type: ignore[method-assign]

    _finish_with_a_quitter(agents[:2], quitter, process, headers, round_id)
    final = round_state(process, headers, round_id)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["evaluation"]["contributors"] == 3  # type: ignore[index]  # its update counted
    assert refused and "not a MedFed CKKS submission" in refused[0]
    trained_db.rollback()
    details = trained_db.scalars(
        select(AuditEvent.details)
        .where(AuditEvent.action == "secagg_stage")
        .order_by(AuditEvent.seq)
    ).all()
    assert [d["ended"] for d in details] == [
        "advertise_keys",
        "he_keys",
        "encrypted_input",
        "decrypting",
    ]
    assert "2 of 3 hospitals decrypted the sum" in details[-1]["reason"]
    refusals = trained_db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "round_update_rejected")
    ).all()
    assert any("encrypted_input" in json.dumps(d) for d in refusals)
    trained_db.rollback()
    assert final["config"]["homomorphic"] is True  # type: ignore[index]  # shown with the round


@pytest.mark.slow
def test_a_key_holder_that_never_sends_the_key_is_replaced_and_the_round_completes(
    live_server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    process = live_server[0]
    agents, headers, opened = _he_round(
        live_server, datasets_dir, tmp_path, trained_db, "HE keys",
        secagg_threshold=2, secagg_stage_seconds=3, submit_seconds=6,
    )  # fmt: skip
    round_id = int(opened["id"])
    gone: list[RoundAgent] = []
    unsent: list[str] = []  # the public half of the key the first holder made

    def goes_silent(agent: RoundAgent) -> None:
        real_send = agent.client.secagg_send

        def send(round_ref: int, stage: str, message: dict[str, object], vector: object = None):  # type: ignore[no-untyped-def]
            if stage == "he_keys" and not gone:
                gone.append(agent)  # it made the key, kept it, and went away before sending
                unsent.append(base64.b64decode(str(message["public_context"])).hex())
            if agent in gone:
                raise ServiceUnavailable("node switched off")
            return real_send(round_ref, stage, message, vector)  # type: ignore[arg-type]

        agent.client.secagg_send = send  # type: ignore[method-assign]

    for agent in agents:
        goes_silent(agent)

    def everyone_steps() -> bool:
        for agent in agents:
            with contextlib.suppress(ServiceUnavailable):
                agent.step()
        return round_state(process, headers, round_id)["status"] in (
            "deployed",
            "rejected",
            "failed",
        )

    for _ in range(150):
        if everyone_steps():
            break
        time.sleep(0.2)
    final = round_state(process, headers, round_id)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["evaluation"]["contributors"] == 2  # type: ignore[index]
    assert len(gone) == 1 and len(unsent) == 1
    trained_db.rollback()
    details = trained_db.scalars(
        select(AuditEvent.details)
        .where(AuditEvent.action == "secagg_stage")
        .order_by(AuditEvent.seq)
    ).all()
    trained_db.rollback()
    assert [(d["ended"], d["next"]) for d in details] == [
        ("advertise_keys", "he_keys"),
        ("he_keys", "he_keys"),  # the holder was passed over
        ("he_keys", "encrypted_input"),
        ("encrypted_input", "decrypting"),
        ("decrypting", "done"),
    ]
    assert "did not send the round's key by the deadline" in details[1]["reason"]
    # The passed-over hospital made a key it never sent; everyone encrypted under the
    # replacement's, and the passed-over node, still listening, swapped its own for it.
    keys = {a.state.load_secagg(round_id)["he_public"] for a in agents}  # type: ignore[index]
    assert len(keys) == 1 and unsent[0] not in keys
