"""The demo's training campaign: three heart-disease sites as hospitals with their own nodes.

Runs beside the demo server once it is ready: creates the hospitals through the REST API,
enrolls a node for each (credentials under the demo home), starts a short campaign, and lets
the nodes join each round the server opens, train with DP-SGD, submit and evaluate over HTTP
while the server aggregates, advances the training line and decides on promotion.
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
DEMO_ROUNDS = 3
DEMO_EPSILON_BUDGET = 3.0  # per hospital for the whole campaign


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
    started = httpx.post(
        url + API + "/campaigns",
        json={
            "disease": "heart",
            "rounds": DEMO_ROUNDS,
            "patience": None,
            "epsilon_budget": DEMO_EPSILON_BUDGET,
            "round": {
                "min_hospitals": len(agents),
                "max_hospitals": len(agents),
                "min_rows": 100,
                "grace_seconds": 0,
            },
        },
        headers=headers,
        timeout=30,
    )
    if started.status_code != 201:
        raise Conflict(f"could not start the demo campaign: {started.text}")
    campaign_id = started.json()["id"]
    say(
        f"Started heart campaign {campaign_id}: {DEMO_ROUNDS} rounds back to back, "
        f"ε {DEMO_EPSILON_BUDGET:g} per hospital for the whole campaign"
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        for agent in agents:
            agent.step()
        campaign = httpx.get(
            f"{url}{API}/campaigns/{campaign_id}", headers=headers, timeout=30
        ).json()
        for entry in campaign["rounds"]:
            if entry["id"] not in seen and entry["status"] in ("deployed", "rejected", "failed"):
                seen.add(entry["id"])
                value = "" if entry["value"] is None else f", accuracy {entry['value']:.3f}"
                say(
                    f"Round {entry['number']}: {_ROUND_WORDS.get(entry['status'], entry['status'])}"
                    f" ({entry['result_version'] or 'no version'}{value})"
                )
        if campaign["status"] not in ("running", "paused"):
            for agent in agents:
                agent.step()  # each node records the last outcome
            rounds = [
                httpx.get(f"{url}{API}/rounds/{r['id']}", headers=headers, timeout=30).json()
                for r in campaign["rounds"]
            ]
            served = httpx.get(f"{url}{API}/models/heart", headers=headers, timeout=30).json()
            return {
                "campaign": campaign,
                "rounds": rounds,
                "served_version": served["active_version"],
            }
        time.sleep(0.3)
    raise TimeoutError("the demo campaign did not finish in 15 minutes")


_ROUND_WORDS = {
    "deployed": "promoted to doctors",
    "rejected": "trained, kept on the training line",
    "failed": "failed",
}


def _evidence(round_: dict[str, Any]) -> str:
    promotion = (round_.get("evaluation") or {}).get("promotion") or {}
    verdict, words = promotion.get("verdict", ""), promotion.get("words", "")
    return f"{verdict}: {words}" if verdict else words or (round_.get("reason") or "")


def explain_outcome(outcome: dict[str, Any]) -> list[str]:
    """The demo campaign's ending in words a newcomer can follow: what ran, what the training
    line did, which version doctors now get and why."""
    campaign, rounds = outcome["campaign"], outcome["rounds"]
    served = outcome["served_version"]
    hospitals = ", ".join(site.hospital for site in DEMO_SITES)
    spent = campaign["progress"]["epsilon_spent"]
    most = max(spent.values(), default=0.0)
    lines = [
        f"A campaign of {len(rounds)} rounds trained heart disease at {len(DEMO_SITES)} "
        f"hospitals ({hospitals}) with DP-SGD (ε = {DEMO_EPSILON_BUDGET:g} per hospital for the "
        f"whole campaign; the most any hospital spent is {most:.2f}) and secure aggregation: the "
        "server saw only "
        "the sum of their updates.",
    ]
    completed = [r for r in rounds if r["status"] in ("deployed", "rejected")]
    values = {entry["id"]: entry["value"] for entry in campaign["rounds"]}
    if completed:
        steps = ", ".join(
            str(r["result_version"])
            + ("" if values.get(r["id"]) is None else f" ({values[r['id']]:.3f})")
            for r in completed
        )
        lines.append(
            "The training line advanced every completed round, each starting from the one "
            f"before: {completed[0]['base_version']} → {steps} (accuracy on the hospitals' "
            "validation rows)."
        )
    promoted = [r for r in completed if r["status"] == "deployed"]
    if promoted:
        last = promoted[-1]
        lines.append(
            f"Doctors now get heart {served}: {last['result_version']} was promoted in round "
            f"{last['number']} because, scored against the version they had on the same "
            f"patients, {_evidence(last)}."
        )
    elif completed:
        last = completed[-1]
        lines += [
            f"Doctors keep getting heart {served}: no round's model was promoted. The last "
            f"round's evidence against {served}: {_lowercase_first(_evidence(last))}.",
            f"Why that is expected here: {served} was trained on the public heart data, which "
            "includes these three hospitals' patients, so a few rounds of noisy, privacy-protected "
            "training have little to add; a version reaches doctors only when the paired "
            "evidence (held-out and hospital rows, one-sided at 5 %) says it is better.",
        ]
    else:
        lines.append(
            f"The campaign {campaign['status']} ({campaign.get('reason')}); no round completed "
            f"and doctors keep getting heart {served}."
        )
    lines.append(
        "Sign in as " + ", ".join(site.login for site in DEMO_SITES) + " to see each hospital's "
        "contribution, privacy spend and impact; as admin to see the campaign's training line "
        f"(Admin, Campaigns, campaign {campaign['id']}) and each round's evidence; as doctor "
        "to use the models."
    )
    return lines


def _lowercase_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
