"""The demo's federated round: three heart-disease sites as hospitals with their own nodes.

Runs beside the demo server once it is ready: creates the hospitals through the REST API,
enrolls a node for each (credentials under the demo home), and lets the nodes join, train with
DP-SGD, submit and evaluate over HTTP while the server aggregates and gates the candidate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from medfed.core.catalog import get_disease
from medfed.core.errors import Conflict
from medfed.ml.datasets import load_dataset
from medfed.node import enroll as node_enroll
from medfed.node.client import ServerClient
from medfed.node.credential import load_credential
from medfed.node.rounds import Participation, RoundAgent
from medfed.simulation.hospitals import write_csv

SITES = {"cleveland": "Cleveland", "hungarian": "Budapest", "va": "Long Beach"}
API = "/api/v1"
Say = Callable[[str], None]


def _wait_ready(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the demo server did not become ready")


def _node(url: str, headers: dict[str, str], home: Path, hospital: str) -> ServerClient:
    credential = load_credential(home)
    if credential is None:
        created = httpx.post(
            url + API + "/hospitals", json={"name": hospital}, headers=headers, timeout=30
        )
        if created.status_code != 201:
            raise Conflict(f"could not create {hospital}: {created.text}")
        token = created.json()["enrollment"]["enrollment_token"]
        credential = node_enroll.enroll(home, url, token, node_name=f"{hospital} node")
    return ServerClient(url, credential.credential)


def run_demo_round(
    url: str, admin: tuple[str, str], home: Path, datasets_dir: Path, say: Say
) -> dict[str, Any]:
    _wait_ready(url)
    token = httpx.post(
        url + API + "/auth/token",
        json={"username": admin[0], "password": admin[1]},
        timeout=60,
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    spec = get_disease("heart")
    data = load_dataset(spec, datasets_dir)
    agents = []
    for site, city in SITES.items():
        node_home = home / "demo-nodes" / site
        node_home.mkdir(parents=True, exist_ok=True)
        rows = [i for i, s in enumerate(data.sites) if s == site]
        csv_path = write_csv(spec, data.subset(rows), node_home / "patients.csv")  # type: ignore[arg-type]
        client = _node(url, headers, node_home, f"Demo {city} Hospital")
        agents.append(RoundAgent(node_home, client, Participation("heart", csv_path), say=say))
    opened = httpx.post(
        url + API + "/rounds",
        json={
            "disease": "heart",
            "min_hospitals": len(agents),
            "max_hospitals": len(agents),
            "min_rows": 100,
            "grace_seconds": 0,
            "target_epsilon": 1.0,
        },
        headers=headers,
        timeout=30,
    )
    if opened.status_code != 201:
        raise Conflict(f"could not open the demo round: {opened.text}")
    round_id = opened.json()["id"]
    say(f"Opened heart round {opened.json()['number']} on {opened.json()['base_version']}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for agent in agents:
            agent.step()
        state = httpx.get(f"{url}{API}/rounds/{round_id}", headers=headers, timeout=30).json()
        if state["status"] in ("deployed", "rejected", "failed"):
            for agent in agents:
                agent.step()  # each node records the outcome
            return dict(state)
        time.sleep(0.3)
    raise TimeoutError("the demo round did not finish in 10 minutes")
