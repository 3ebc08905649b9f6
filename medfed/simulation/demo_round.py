"""The demo's federated round: three heart-disease sites as hospitals with their own nodes.

Runs beside the demo server once it is ready: creates the hospitals through the REST API,
enrolls a node for each (credentials under the demo home), and lets the nodes join, train with
DP-SGD, submit and evaluate over HTTP while the server aggregates and gates the candidate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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

API = "/api/v1"
Say = Callable[[str], None]
DEMO_EPSILON = 1.0


@dataclass(frozen=True)
class DemoSite:
    site: str  # the heart dataset's site id
    city: str
    login: str  # the hospital staff login the demo creates for it

    @property
    def hospital(self) -> str:
        return f"Demo {self.city} Hospital"


DEMO_SITES = (
    DemoSite("cleveland", "Cleveland", "cleveland"),
    DemoSite("hungarian", "Budapest", "budapest"),
    DemoSite("va", "Long Beach", "longbeach"),
)


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


def _prefixed(say: Say, prefix: str) -> Say:
    return lambda line: say(prefix + line)


def _enrollment_token(url: str, headers: dict[str, str], hospital: str) -> str:
    """A one-time token for the hospital, created through the API as an administrator would."""
    listed = httpx.get(url + API + "/hospitals", headers=headers, timeout=30).json()
    known = {entry["name"]: entry["id"] for entry in listed}
    if hospital in known:
        issued = httpx.post(
            f"{url}{API}/hospitals/{known[hospital]}/enrollment-tokens", headers=headers, timeout=30
        )
    else:
        issued = httpx.post(
            url + API + "/hospitals", json={"name": hospital}, headers=headers, timeout=30
        )
    if issued.status_code != 201:
        raise Conflict(f"could not enroll a node for {hospital}: {issued.text}")
    body = issued.json()
    return str(
        body["enrollment"]["enrollment_token"] if "enrollment" in body else body["enrollment_token"]
    )


def _node(url: str, headers: dict[str, str], home: Path, hospital: str) -> ServerClient:
    credential = load_credential(home)
    if credential is None:
        token = _enrollment_token(url, headers, hospital)
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
    for demo_site in DEMO_SITES:
        node_home = home / "demo-nodes" / demo_site.site
        node_home.mkdir(parents=True, exist_ok=True)
        rows = [i for i, s in enumerate(data.sites) if s == demo_site.site]
        csv_path = write_csv(spec, data.subset(rows), node_home / "patients.csv")  # type: ignore[arg-type]
        client = _node(url, headers, node_home, demo_site.hospital)
        agents.append(
            RoundAgent(
                node_home,
                client,
                Participation("heart", csv_path),
                say=_prefixed(say, f"  [{demo_site.city} node] "),
            )
        )
    opened = httpx.post(
        url + API + "/rounds",
        json={
            "disease": "heart",
            "min_hospitals": len(agents),
            "max_hospitals": len(agents),
            "min_rows": 100,
            "grace_seconds": 0,
            "target_epsilon": DEMO_EPSILON,
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
            served = httpx.get(f"{url}{API}/models/heart", headers=headers, timeout=30).json()
            return {"round": state, "served_version": served["active_version"]}
        time.sleep(0.3)
    raise TimeoutError("the demo round did not finish in 10 minutes")


def explain_outcome(outcome: dict[str, Any]) -> list[str]:
    """The demo round's ending in words a newcomer can follow: what ran, what doctors now get, why."""
    state = outcome["round"]
    served = outcome["served_version"]
    hospitals = ", ".join(site.hospital for site in DEMO_SITES)
    lines = [
        f"Round {state['number']} trained heart disease at {len(DEMO_SITES)} hospitals "
        f"({hospitals}) from {state['base_version']}, with DP-SGD (ε = {DEMO_EPSILON:g} each) "
        "and secure aggregation: the server saw only the sum of their updates.",
    ]
    promotion = (state.get("evaluation") or {}).get("promotion") or {}
    verdict, words = promotion.get("verdict", ""), promotion.get("words", "")
    evidence = f"{verdict}: {words}" if verdict else words
    if state["status"] == "deployed":
        lines.append(
            f"Doctors now get heart {served}: it was promoted because, scored against the "
            f"version they had on the same patients, {evidence or state['reason']}."
        )
    elif state["status"] == "rejected":
        lines += [
            f"Doctors keep getting heart {served}. The round's model, "
            f"{state.get('result_version') or 'the candidate'}, joined the training line (the "
            "next round continues from it) but was not promoted: "
            f"{_lowercase_first(evidence or state['reason'] or 'the evidence was not enough')}.",
            f"Why that is expected here: {served} was trained on the public heart data, which "
            "includes these three hospitals' patients, so one round of noisy, privacy-protected "
            "training has little to add; a version reaches doctors only when the paired "
            "evidence (held-out and hospital rows, 95 % confidence) says it is better.",
        ]
    else:
        lines.append(
            f"The round {state['status']} ({state['reason']}); doctors keep getting heart {served}."
        )
    lines.append(
        "Sign in as " + ", ".join(site.login for site in DEMO_SITES) + " to see each hospital's "
        "contribution, privacy spend and impact; as admin to see the round's evidence "
        f"(Admin, Rounds, round {state['number']}); as doctor to use the models."
    )
    return lines


def _lowercase_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
