"""Nodes in a federated round against a real server process: local policy first, then the round."""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core import frames
from medfed.core.config import Settings
from medfed.core.errors import InvalidInput, ServiceUnavailable
from medfed.fl.privacy import choose_delta, smallest_epsilon
from medfed.node import enroll as node_enroll
from medfed.node.client import ServerClient
from medfed.node.credential import load_credential
from medfed.node.policy import LocalPolicy, save_policy
from medfed.node.rounds import Participation, RoundAgent, _fraction, approve
from medfed.node.state import NodeState
from medfed.node.training import VALIDATION_FRACTION
from medfed.server.db.tables import AuditEvent, PrivacySpend, Round
from tests.node.conftest import admin_headers, open_heart_round, round_state, site_csv
from tests.utils.processes import (
    ServerProcess,
    hospital_token,
    medfed_env,
    running_server,
)


@pytest.fixture
def server(
    live_server: tuple[ServerProcess, dict[str, str]],
) -> tuple[ServerProcess, dict[str, str]]:
    return live_server


def _agent(
    server: ServerProcess,
    env: dict[str, str],
    home: Path,
    hospital: str,
    csv_path: Path,
    url: str | None = None,
    drop: frozenset[str] = frozenset(),
) -> RoundAgent:
    token = hospital_token(env, hospital)
    credential = node_enroll.enroll(home, url or server.url, token, node_name=hospital)
    client = ServerClient(url or server.url, credential.credential)
    if drop:
        return RoundAgent(home, client, Participation("heart", csv_path, drop), say=lambda _: None)
    return RoundAgent(home, client, Participation("heart", csv_path), say=lambda _: None)


def _site_agents(
    server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    sites: tuple[str, ...],
    label: str,
) -> list[RoundAgent]:
    process, env = server
    return [
        _agent(
            process,
            env,
            tmp_path / site,
            f"{site} {label}",
            site_csv(datasets_dir, site, tmp_path / f"{site}.csv"),
        )
        for site in sites
    ]


def _step_until(agents: list[RoundAgent], done: object, tries: int = 200) -> None:
    for _ in range(tries):
        for agent in agents:
            agent.step()
        if callable(done) and done():
            return
        time.sleep(0.2)
    states = [(a.spec.id, a.state.round_entries()) for a in agents]
    raise AssertionError(f"the round did not get there in time: {states}")


def _finish_with_a_quitter(
    agents: list[RoundAgent],
    quitter: RoundAgent,
    process: ServerProcess,
    headers: dict[str, str],
    round_id: int,
) -> None:
    """Step the agents and a hospital whose node goes away mid-round until the round ends."""

    def everyone_steps() -> bool:
        with contextlib.suppress(ServiceUnavailable):
            quitter.step()
        status = round_state(process, headers, round_id)["status"]
        return status in ("deployed", "rejected", "failed")

    _step_until(agents, everyone_steps)


def test_policy_approval_round_trip_and_restart_safety(
    server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    process, env = server
    files = {
        s: site_csv(datasets_dir, s, tmp_path / f"{s}.csv")
        for s in ("cleveland", "hungarian", "va")
    }
    careful = _agent(process, env, tmp_path / "a", "Careful Hospital", files["cleveland"])
    eager = _agent(process, env, tmp_path / "b", "Eager Hospital", files["hungarian"])
    other = _agent(process, env, tmp_path / "c", "Diabetes-only Hospital", files["va"])
    save_policy(tmp_path / "a", LocalPolicy(require_approval=True))
    save_policy(tmp_path / "c", LocalPolicy(diseases=["diabetes"]))
    headers = admin_headers(process, trained_db)
    opened = httpx.post(
        process.url + "/api/v1/rounds",
        json={
            "disease": "heart",
            "min_hospitals": 2,
            "min_rows": 50,
            "grace_seconds": 0,
            "target_epsilon": 2.0,
            "local_steps": 9,
            "tolerance": 1.0,
            "secure": False,  # plain mode here; the secure rounds are tested below
        },
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    round_id = opened.json()["id"]

    for agent in (careful, eager, other):
        agent.step()
    entries = {
        name: a.state.round_entry(round_id)
        for name, a in (("careful", careful), ("eager", eager), ("other", other))
    }
    assert entries["careful"] is not None and entries["careful"].status == "awaiting_approval"
    assert entries["eager"] is not None and entries["eager"].status == "joined"
    assert entries["other"] is not None and entries["other"].status == "declined"
    assert "does not train 'heart'" in (entries["other"].note or "")
    assert round_state(process, headers, round_id)["status"] == "open"  # one of two needed

    approve(tmp_path / "a", round_id)
    # The node is killed after training, before its update reaches the server.
    real_submit = careful.client.submit_update

    def lost_connection(*_: object) -> None:
        raise ServiceUnavailable("connection lost")

    careful.client.submit_update = lost_connection  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        for _ in range(200):
            eager.step()
            careful.step()
            time.sleep(0.2)
    trained_jobs = [j for j in careful.state.jobs() if j.status == "trained"]
    assert len(trained_jobs) == 1
    result = trained_jobs[0].result
    assert result is not None and result["steps"] == 9  # the round's local steps, not epochs
    # Restarted: a new agent sends the same trained update; it does not train (and spend) again.
    restarted = RoundAgent(
        tmp_path / "a",
        careful.client,
        Participation("heart", files["cleveland"]),
        say=lambda _: None,
    )
    careful.client.submit_update = real_submit  # type: ignore[method-assign]
    _step_until(
        [restarted, eager],
        lambda: (
            round_state(process, headers, round_id)["status"] in ("deployed", "rejected", "failed")
        ),
    )
    final = round_state(process, headers, round_id)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["result_version"] == "v1.1"  # promoted or not, the training line gained it
    assert {m["status"] for m in final["members"]} == {"evaluated"}  # type: ignore[union-attr]
    assert len(NodeState(tmp_path / "a").ledger("heart")) == 1
    _step_until(
        [restarted, eager], lambda: restarted.state.round_entry(round_id).status == "finished"
    )  # type: ignore[union-attr]
    assert "v1.1" in restarted.state.round_entry(round_id).note  # type: ignore[union-attr]
    # Both hospitals reported their (DP) spend: one entry each, numbers only.
    spends = trained_db.scalars(select(PrivacySpend)).all()
    assert len(spends) == 2 and all(0 < s.epsilon <= 2.0 + 1e-6 for s in spends)
    trained_db.rollback()


def test_in_a_round_only_numbers_and_the_update_leave_the_node(
    server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    from tests.utils.proxy import recording_proxy, request_sent

    process, env = server
    names = {"patient_name": [f"SENTINELNAME{i:04d} Person" for i in range(303)]}
    leaky = site_csv(datasets_dir, "cleveland", tmp_path / "leak.csv", names)
    other_file = site_csv(datasets_dir, "hungarian", tmp_path / "hungarian.csv")
    headers = admin_headers(process, trained_db)
    port = int(process.url.rsplit(":", 1)[1])
    with recording_proxy(port) as proxy:
        watched = _agent(
            process,
            env,
            tmp_path / "a",
            "Watched Hospital",
            leaky,
            url=f"http://127.0.0.1:{proxy.port}",
            drop=frozenset({"patient_name"}),
        )
        other = _agent(process, env, tmp_path / "b", "Other Hospital", other_file)
        opened = httpx.post(
            process.url + "/api/v1/rounds",
            json={
                "disease": "heart",
                "min_hospitals": 2,
                "min_rows": 50,
                "grace_seconds": 0,
                "target_epsilon": 2.0,
                "local_epochs": 1,
                "tolerance": 1.0,
            },
            headers=headers,
        )
        round_id = opened.json()["id"]
        _step_until(
            [watched, other],
            lambda: (
                watched.state.round_entry(round_id) is not None
                and watched.state.round_entry(round_id).status == "finished"
            ),  # type: ignore[union-attr]
        )
        sent = bytes(proxy.sent)
    found = sent.lower().find(b"sentinel")
    assert found < 0, sent[max(0, found - 300) : found + 100]
    for row in leaky.read_text().splitlines()[1:50]:
        assert row.split(",", 3)[3].encode() not in sent
    paths = {p.decode() for p in re.findall(rb"(?:GET|POST) (/\S+) HTTP/1\.1", sent)}
    prefix = f"/api/v1/nodes/rounds/{round_id}"
    stages = ("advertise_keys", "share_keys", "masked_input", "unmasking")
    allowed = {
        "/api/v1/nodes/authority",
        "/api/v1/nodes/enroll",
        "/api/v1/nodes/policy",
        "/api/v1/nodes/rounds",
        "/api/v1/nodes/privacy-spend",
        *(f"{prefix}/{p}" for p in ("join", "base", "secagg", "candidate", "served", "evaluation")),
        *(f"{prefix}/secagg/{stage}" for stage in stages),
    }
    assert paths <= allowed and {f"{prefix}/secagg/{stage}" for stage in stages} <= paths
    assert f"{prefix}/update" not in paths  # secure by default: the update itself never leaves
    assert f"{prefix}/secagg" not in paths  # each stage's view came with the listing
    head, masked = request_sent(sent, f"POST {prefix}/secagg/masked_input")
    assert b"content-type: application/octet-stream" in head.lower()  # a binary frame
    fields, vector = frames.unpack(masked)
    assert set(fields) == {"job_ref", "base_version", "rows", "epsilon", "delta", "metrics"}
    assert len(vector) % 8 == 0  # the masked uint64 vector, nothing else
    evaluation = sent.split(f"POST /api/v1/nodes/rounds/{round_id}/evaluation".encode())[1]
    body = json.loads(evaluation.split(b"\r\n\r\n", 1)[1].split(b"GET ")[0].split(b"POST ")[0])
    assert set(body) == {"rows", "base", "candidate", "paired"}
    # The paired evidence is three sums per measure over all the local rows, never a row.
    assert set(body["paired"]) == {"accuracy", "brier"}
    for sums in body["paired"].values():
        assert set(sums) == {"n", "total", "squares"} and sums["n"] == body["rows"]
        assert all(isinstance(value, int | float) for value in sums.values())


def test_a_secure_round_survives_a_hospital_dropping_out_after_sharing_keys(
    server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    process = server[0]
    sites = ("cleveland", "hungarian", "va")
    agents = _site_agents(server, datasets_dir, tmp_path, sites, "secure")
    headers = admin_headers(process, trained_db)
    opened = open_heart_round(
        process, headers, target_epsilon=2.0, secagg_stage_seconds=30, submit_seconds=8
    )
    round_id = opened.json()["id"]
    assert opened.json()["config"]["secure"] is True  # the default
    quitter = agents[2]
    real_send = quitter.client.secagg_send

    def dies_before_masking(
        round_ref: int, stage: str, message: dict[str, object], vector: object = None
    ) -> object:
        if stage == "masked_input":  # the hospital's node goes away after sharing its keys
            raise ServiceUnavailable("node switched off")
        return real_send(round_ref, stage, message, vector)  # type: ignore[arg-type]

    quitter.client.secagg_send = dies_before_masking  # type: ignore[method-assign]

    _finish_with_a_quitter(agents[:2], quitter, process, headers, round_id)
    final = round_state(process, headers, round_id)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["result_version"] == "v1.1"  # promoted or not, the training line gained it
    statuses = sorted(m["status"] for m in final["members"])  # type: ignore[union-attr]
    assert statuses == ["dropped", "evaluated", "evaluated"]
    assert final["evaluation"]["contributors"] == 2  # type: ignore[index]
    stages = trained_db.scalars(
        select(AuditEvent.details)
        .where(AuditEvent.action == "secagg_stage")
        .order_by(AuditEvent.seq)
    ).all()
    trained_db.rollback()
    assert [d["ended"] for d in stages] == [
        "advertise_keys",
        "share_keys",
        "masked_input",
        "unmasking",
    ]


@pytest.mark.parametrize(
    ("protection", "killed_in"),
    [
        ("secure_aggregation", ("masked_input", "unmasking")),
        ("homomorphic", ("encrypted_input", "decrypting")),
    ],
    ids=["secure_aggregation", "homomorphic"],
)
def test_a_server_killed_mid_protocol_resumes_it(
    protection: str,
    killed_in: tuple[str, str],
    trained_settings: Settings,
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    env = medfed_env(
        tmp_path / "server-home",
        trained_settings.resolved_database_url,
        MEDFED_ARTIFACTS_DIR=str(trained_settings.resolved_artifacts_dir),
        MEDFED_POLICY_MIN_ROWS="50",
    )
    sites = ("cleveland", "hungarian", "va")
    files = {site: site_csv(datasets_dir, site, tmp_path / f"{site}.csv") for site in sites}
    with running_server(env, tmp_path / "server-1.log") as first:
        agents = [_agent(first, env, tmp_path / s, f"{s} restart", files[s]) for s in sites]
        headers = admin_headers(first, trained_db)
        opened = httpx.post(
            first.url + "/api/v1/rounds",
            json={
                "disease": "heart",
                "min_hospitals": 3,
                "min_rows": 50,
                "grace_seconds": 0,
                "target_epsilon": 2.0,
                "local_epochs": 1,
                "tolerance": 1.0,
                "protection": protection,
            },
            headers=headers,
        )
        assert opened.status_code == 201, opened.text
        round_id = opened.json()["id"]

        def stage() -> str:
            state = trained_db.get(Round, round_id)
            assert state is not None
            trained_db.refresh(state)
            value = (state.secagg or {}).get("stage", "")
            trained_db.rollback()
            return str(value)

        _step_until(agents, lambda: stage() in killed_in)
        first.process.kill()  # SIGKILL in the middle of the protocol
        first.process.wait()
    killed_at = stage()
    with running_server(env, tmp_path / "server-2.log") as second:
        headers = admin_headers(second, trained_db)
        resumed = []
        for site, agent in zip(sites, agents, strict=True):
            credential = load_credential(tmp_path / site)
            assert credential is not None
            client = ServerClient(second.url, credential.credential)
            resumed.append(RoundAgent(tmp_path / site, client, agent.offer, say=lambda _: None))
        _step_until(
            resumed,
            lambda: (
                round_state(second, headers, round_id)["status"]
                in ("deployed", "rejected", "failed")
            ),
        )
        final = round_state(second, headers, round_id)
    assert killed_at in killed_in
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert final["result_version"] == "v1.1"  # promoted or not, the training line gained it
    assert final["evaluation"]["contributors"] == 3  # type: ignore[index]
    for site in sites:  # each hospital trained (and spent privacy) once
        assert len(NodeState(tmp_path / site).ledger("heart")) == 1


def test_a_strong_privacy_round_completes_and_a_node_that_cannot_certify_it_declines(
    server: tuple[ServerProcess, dict[str, str]],
    datasets_dir: Path,
    tmp_path: Path,
    trained_db: Session,
) -> None:
    process, env = server
    agents = _site_agents(
        server, datasets_dir, tmp_path, ("cleveland", "hungarian", "va"), "strict"
    )
    # 20,000 training rows: this node's delta is 1/(10 n) = 5e-6, so it needs a larger epsilon.
    one_site = site_csv(datasets_dir, "cleveland", tmp_path / "one.csv").read_text().splitlines()
    big_csv = tmp_path / "big.csv"
    big_csv.write_text("\n".join([one_site[0], *(one_site[1:] * 90)]) + "\n")
    big = _agent(process, env, tmp_path / "big", "Big Hospital", big_csv)
    epsilon = 0.004  # far below Opacus's default floor of 0.103; above MedFed's at delta 1e-5
    assert smallest_epsilon(1e-5) < epsilon < smallest_epsilon(choose_delta(20_000))
    headers = admin_headers(process, trained_db)
    # The round also asks each node to keep back 10 % of its rows instead of the default 20 %.
    opened = open_heart_round(process, headers, target_epsilon=epsilon, validation_fraction=0.1)
    assert opened.status_code == 201, opened.text
    round_id = opened.json()["id"]
    too_much = open_heart_round(process, headers, validation_fraction=0.7)
    assert too_much.status_code == 422 and "validation_fraction" in too_much.text
    refused = httpx.post(
        process.url + "/api/v1/rounds",
        json={"disease": "diabetes", "target_epsilon": 0.001},
        headers=headers,
    )
    assert refused.status_code == 422 and "below what DP-SGD can certify" in refused.text

    _step_until(
        [big, *agents],
        lambda: (
            round_state(process, headers, round_id)["status"] in ("deployed", "rejected", "failed")
        ),
    )
    final = round_state(process, headers, round_id)
    assert final["status"] in ("deployed", "rejected"), final["reason"]
    assert len(final["members"]) == 3  # type: ignore[arg-type]
    declined = big.state.round_entry(round_id)
    assert declined is not None and declined.status == "declined"
    assert "cannot be certified with this hospital's" in (declined.note or "")
    assert big.state.jobs() == []  # it never trained, so it spent nothing
    for agent in agents:
        (spend,) = agent.state.ledger("heart")
        assert 0 < spend.epsilon <= epsilon
        (job,) = agent.state.jobs()
        assert job.result is not None
        kept_back = job.result["rows_validation"]
        # Exactly the rows this node's split seed draws at the round's 10 % (not 20 %).
        draws = np.random.default_rng(agent.state.split_seed()).random(
            kept_back + job.result["rows_train"]
        )
        assert kept_back == int((draws < 0.1).sum()) != int((draws < 0.2).sum())


def test_a_node_refuses_a_validation_share_outside_its_bounds() -> None:
    assert _fraction(None) == VALIDATION_FRACTION  # a server that predates the setting
    assert _fraction(0) == 0 and _fraction("0.35") == 0.35
    for odd in (0.51, -0.1, 1.0):
        with pytest.raises(InvalidInput, match=r"this node accepts 0 to 0\.5"):
            _fraction(odd)


@pytest.mark.own_database
def test_a_seeded_node_repeats_its_split_and_training_and_an_unseeded_one_does_not(
    tmp_path: Path,
) -> None:
    training = {
        "target_epsilon": None,
        "local_epochs": 1,
        "local_steps": None,
        "batch_size": 32,
        "proximal_mu": 0.0,
        "validation_fraction": 0.2,
        "budget_rounds": 1,
    }
    client = ServerClient("http://127.0.0.1:9", "unused")
    offer = Participation("heart", tmp_path / "site.csv")

    def requests(home: str, seed: int | None) -> list[tuple[int | None, int | None]]:
        agent = RoundAgent(tmp_path / home, client, replace(offer, seed=seed), say=lambda _: None)
        made = [agent._request({"id": i, "training": training}) for i in (1, 2)]
        return [(r.split_seed, r.seed) for r in made]

    seeded = requests("a", 7)
    assert seeded == requests("b", 7)  # another node home, the same seed: the same choices
    assert seeded[0][0] == seeded[1][0] and seeded[0][1] != seeded[1][1]  # fresh per round
    assert requests("c", 8) != seeded
    unseeded = requests("d", None)
    assert unseeded[0][1] is None  # training draws its own seed
    assert unseeded[0][0] == unseeded[1][0] == NodeState(tmp_path / "d").split_seed()
    assert requests("e", None)[0][0] != unseeded[0][0]  # a random split, kept by each node
