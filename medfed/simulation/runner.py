"""A federated simulation: public data split into hospitals, each a real node process, one real
server process running a training campaign started through the REST API, and after every round
both the served model and the training line's newest checkpoint scored on each hospital's
held-out test rows (which no node ever trains on).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from medfed.core.catalog import get_disease
from medfed.fl import promotion
from medfed.ml.model import DiseaseModel
from medfed.node.enroll import enroll
from medfed.simulation.hospitals import (
    Hospital,
    HospitalPlan,
    build_hospitals,
    public_holdout_default,
    score,
)
from medfed.simulation.processes import (
    Background,
    free_port,
    medfed,
    new_password,
    wait_ready,
    write_config,
)

Say = Callable[[str], None]
API = "/api/v1"


@dataclass(frozen=True)
class SimulationConfig:
    disease: str
    workdir: Path
    datasets_dir: Path
    hospitals: str = "natural"  # or a number
    split: str = "dirichlet:0.5"
    rounds: int = 15
    strategy: str = "fedavg"
    local_epochs: int = 5  # used when local_steps is None
    local_steps: int | None = 10
    metric: str = "brier"  # the promotion rule's measure
    public_holdout: bool | None = None  # None: `public_holdout_default(hospitals)`
    learning_rate: float | None = None  # None: the server's default for the privacy
    batch_size: int = 32
    proximal_mu: float = 0.01
    validation_fraction: float = 0.2  # each hospital's rows kept back as promotion evidence
    epsilon: float | None = None  # total per hospital over all rounds; None: no DP
    test_fraction: float = 0.34
    start: str = "untrained"  # or "baseline"
    tolerance: float = 0.01
    confidence: float = promotion.DEFAULT_CONFIDENCE
    secure: bool = True
    homomorphic: bool = False
    seed: int = 0
    round_timeout: float = 600.0
    specs_dir: Path | None = None  # extra disease specs, given to the server and every node
    strategy_options: dict[str, float] = field(default_factory=dict)


@dataclass
class RoundRecord:
    round: int
    status: str
    version: str  # served to doctors after the round
    per_site: dict[str, float]
    mean_site_accuracy: float
    combined_accuracy: float
    combined_auc: float
    seconds: float
    reason: str | None = None
    advanced: bool = False  # the round's model joined the training line
    line_version: str = ""  # the training line's newest checkpoint after the round
    line_mean_site_accuracy: float = 0.0
    line_combined_accuracy: float = 0.0
    line_combined_auc: float = 0.0


@dataclass
class SimulationResult:
    config: dict[str, Any]
    hospitals: dict[str, dict[str, int]]
    start: RoundRecord
    rounds: list[RoundRecord] = field(default_factory=list)

    @property
    def deployed(self) -> int:
        """Rounds whose model was promoted to doctors."""
        return sum(r.status == "deployed" for r in self.rounds)

    @property
    def advanced(self) -> int:
        """Rounds whose model joined the training line (promoted or not)."""
        return sum(r.advanced for r in self.rounds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "hospitals": self.hospitals,
            "start": asdict(self.start),
            "rounds": [asdict(r) for r in self.rounds],
            "deployed": self.deployed,
            "advanced": self.advanced,
        }


class Simulation:
    def __init__(self, config: SimulationConfig, say: Say = print) -> None:
        self.config = config
        self.say = say
        self.spec = get_disease(config.disease)
        self.background = Background()
        self.url = ""
        self.headers: dict[str, str] = {}
        # One client for the whole run: a client per call set up a TLS context each time,
        # CPU the measured rounds competed with.
        self.http = httpx.Client(timeout=30)
        self.public_holdout = (
            public_holdout_default(config.hospitals)
            if config.public_holdout is None
            else config.public_holdout
        )

    def run(self) -> SimulationResult:
        config = self.config
        config.workdir.mkdir(parents=True, exist_ok=True)
        plan = HospitalPlan(
            config.datasets_dir,
            config.workdir,
            config.hospitals,
            config.split,
            config.test_fraction,
            config.seed,
            self.public_holdout,
        )
        hospitals = build_hospitals(plan, self.spec)
        min_rows = max(1, min(len(h.train) for h in hospitals) // 2)
        try:
            self._start_server(min_rows)
            self._start_nodes(hospitals)
            start = self._record(0, "start", hospitals, 0.0, None, "v1.0", "v1.0")
            result = SimulationResult(
                config={
                    **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
                    "public_holdout": self.public_holdout,
                },
                hospitals={h.name: {"train": len(h.train), "test": len(h.test)} for h in hospitals},
                start=start,
            )
            self._say_row(start)
            for record in self._campaign(hospitals, min_rows):
                result.rounds.append(record)
                self._say_row(record)
            return result
        finally:
            self.http.close()
            self.background.stop()

    # Set-up --------------------------------------------------------------------------------

    def _start_server(self, min_rows: int) -> None:
        config = self.config
        port = free_port()
        password = new_password()
        settings: dict[str, Any] = {
            "env": "development",
            "home": str(config.workdir / "server"),
            "datasets_dir": str(config.datasets_dir),
            "secret_key": new_password() + new_password(),
            "train_baselines": False,
            # The public held-out rows weigh as evidence only when no hospital holds them;
            # otherwise the promotion rule would peek at the hospitals' own (scoring) rows.
            "holdout_evidence": self.public_holdout,
            "admin_password": password,
            "policy_min_rows": min_rows,
            # The default tick: a step's last message ends it at once, so the ticker's own
            # interval only bounds how late a deadline is seen (a faster one only costs CPU).
            # No "workers": the server runs its default, a process per core, as a deployment does.
            "port": port,
        }
        if config.epsilon is None:
            settings["policy_epsilon_cap"] = float("inf")
        else:  # the network's cap is the budget under test (a hair over for float sums)
            settings["policy_epsilon_cap"] = config.epsilon * 1.0001
        if config.specs_dir is not None:
            settings["disease_specs_dir"] = str(config.specs_dir)
        server_config = write_config(config.workdir / "server.yaml", settings)
        baselines = ["models", "baselines", "--disease", self.spec.id]
        medfed(server_config, *baselines, *(["--untrained"] if config.start == "untrained" else []))
        medfed(server_config, "server", "init")
        log = config.workdir / "server.log"
        process = self.background.start(
            server_config, ["server", "start", "--port", str(port)], log
        )
        self.url = f"http://127.0.0.1:{port}"
        wait_ready(self.url, process, log)
        token = self.http.post(
            self.url + API + "/auth/token", json={"username": "admin", "password": password}
        )
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.say(f"Server at {self.url} (logs in {config.workdir})")

    def _start_nodes(self, hospitals: list[Hospital]) -> None:
        hospital_ids = []
        for index, hospital in enumerate(hospitals):
            created = self.http.post(
                self.url + API + "/hospitals",
                json={"name": f"{hospital.name.replace('_', ' ')} (simulated)"},
                headers=self.headers,
            )
            created.raise_for_status()
            token = created.json()["enrollment"]["enrollment_token"]
            hospital_ids.append(created.json()["hospital"]["id"])
            node_config = write_config(
                self.config.workdir / f"node-{index}.yaml",
                {
                    "env": "development",
                    "node_home": str(self.config.workdir / f"node-{index}"),
                    **(
                        {"disease_specs_dir": str(self.config.specs_dir)}
                        if self.config.specs_dir
                        else {}
                    ),
                },
            )
            # What `medfed node enroll` does, without starting an interpreter for it.
            enroll(
                self.config.workdir / f"node-{index}", self.url, token, node_name=f"node-{index}"
            )
            self.background.start(
                node_config,
                [
                    "node",
                    "participate",
                    str(hospital.csv_path),
                    "--disease",
                    self.spec.id,
                    "--poll",
                    "0.3",
                    # Each node's split and training follow from the simulation's seed: a run
                    # repeats, and runs that differ in one setting differ only by it.
                    "--seed",
                    str(self.config.seed * 1_000 + index),
                ],
                self.config.workdir / f"node-{index}.log",
            )
            self.say(f"Node {index}: {hospital.name}, {len(hospital.train)} training rows")
        self._wait_for_nodes(hospital_ids)

    def _wait_for_nodes(self, hospital_ids: list[int], timeout: float = 180) -> None:
        """Until every node has reported what it holds, which it does as it starts following
        the rounds, so none misses round 1."""
        deadline = time.monotonic() + timeout
        waiting = set(hospital_ids)
        while waiting and time.monotonic() < deadline:
            network = self.http.get(f"{self.url}{API}/network", headers=self.headers)
            network.raise_for_status()
            for hospital in network.json():
                if any(n["reported_at"] for n in hospital["nodes"]):
                    waiting.discard(hospital["id"])
            if waiting:
                time.sleep(0.2)
        if waiting:
            raise RuntimeError(f"{len(waiting)} node(s) did not start; see {self.config.workdir}")

    # Rounds --------------------------------------------------------------------------------

    def _campaign_body(self, hospitals: list[Hospital], min_rows: int) -> dict[str, Any]:
        config = self.config
        return {
            "disease": self.spec.id,
            "rounds": config.rounds,
            "patience": None,
            # The budget per hospital for the whole campaign (its rounds compose to it).
            "epsilon_budget": config.epsilon,
            "retry_seconds": 1,
            "max_skips": 3,
            "round": {
                "strategy": config.strategy,
                "strategy_options": config.strategy_options,
                # A hospital whose file cannot be used (e.g. one class only) declines; the round
                # goes ahead with the others once half have joined and a short grace has passed.
                "min_hospitals": max(1, len(hospitals) // 2),
                "max_hospitals": len(hospitals),
                "min_rows": max(1, int(min_rows * 0.5)),
                "local_epochs": config.local_epochs,
                "local_steps": config.local_steps,
                "metric": config.metric,
                "batch_size": config.batch_size,
                "learning_rate": config.learning_rate,
                "proximal_mu": config.proximal_mu if config.strategy == "fedprox" else 0.0,
                "validation_fraction": config.validation_fraction,
                "grace_seconds": 3,
                "join_seconds": config.round_timeout,
                "submit_seconds": min(config.round_timeout, 300),
                "evaluate_seconds": 60,
                "tolerance": config.tolerance,
                "confidence": config.confidence,
                "norm_bound": 100.0,
                "secure": config.secure,
                "homomorphic": config.homomorphic,
            },
        }

    def _campaign(self, hospitals: list[Hospital], min_rows: int) -> Iterator[RoundRecord]:
        """Start the campaign and yield each of its rounds as it ends, scored."""
        started = self.http.post(
            self.url + API + "/campaigns",
            json=self._campaign_body(hospitals, min_rows),
            headers=self.headers,
        )
        if started.status_code != 201:
            raise RuntimeError(f"could not start the campaign: {started.text}")
        campaign_id = started.json()["id"]
        served, head = "v1.0", "v1.0"
        seen: set[int] = set()
        previous_end: datetime | None = None
        deadline = time.monotonic() + self.config.round_timeout * (self.config.rounds + 3)
        while time.monotonic() < deadline:
            campaign = self.http.get(
                f"{self.url}{API}/campaigns/{campaign_id}", headers=self.headers
            ).json()
            for entry in campaign["rounds"]:
                if entry["id"] in seen or entry["status"] not in ("deployed", "rejected", "failed"):
                    continue
                seen.add(entry["id"])
                state = self.http.get(
                    f"{self.url}{API}/rounds/{entry['id']}", headers=self.headers
                ).json()
                # Which versions doctors and the training line have after this round, from the
                # round itself (the next round may already be running).
                if state["result_version"]:
                    head = state["result_version"]
                    if state["status"] == "deployed":
                        served = state["result_version"]
                # The round's wall time on the server's clock: from the previous round's end
                # (so the gap before this one opened counts) or its own opening, to its end.
                closed = datetime.fromisoformat(state["closed_at"])
                began = previous_end or datetime.fromisoformat(state["opened_at"])
                previous_end = closed
                yield self._record(
                    len(seen),
                    state["status"],
                    hospitals,
                    (closed - began).total_seconds(),
                    state["reason"],
                    served,
                    head,
                )
            if campaign["status"] not in ("running", "paused"):
                return
            # Round times come from the server's own clock, so watching less often changes
            # nothing measured; it only keeps this watcher's load off the server under test.
            time.sleep(0.5)
        raise RuntimeError("the campaign did not finish in time")

    def _model(self, version: str) -> DiseaseModel:
        blob = self.http.get(
            f"{self.url}{API}/models/{self.spec.id}/versions/{version}/artifact",
            headers=self.headers,
        ).content
        return DiseaseModel.from_bytes(blob)

    def _record(
        self,
        number: int,
        status: str,
        hospitals: list[Hospital],
        seconds: float,
        reason: str | None,
        served: str,
        head: str,
    ) -> RoundRecord:
        per_site, mean_site, combined, auc = score(self._model(served), hospitals)
        if head == served:
            line_mean, line_combined, line_auc = mean_site, combined, auc
        else:
            _, line_mean, line_combined, line_auc = score(self._model(head), hospitals)
        return RoundRecord(
            number,
            status,
            served,
            per_site,
            mean_site,
            combined,
            auc,
            round(seconds, 3),
            reason,
            advanced=status in ("deployed", "rejected"),
            line_version=head,
            line_mean_site_accuracy=line_mean,
            line_combined_accuracy=line_combined,
            line_combined_auc=line_auc,
        )

    def _say_row(self, record: RoundRecord) -> None:
        sites = "  ".join(f"{v:.3f}" for v in record.per_site.values())
        self.say(
            f"round {record.round:>2}  {record.status:<9} served {record.version:<6} "
            f"sites {sites}  mean {record.mean_site_accuracy:.3f}  "
            f"combined {record.combined_accuracy:.3f}  auc {record.combined_auc:.3f}  "
            f"line {record.line_version:<6} {record.line_combined_accuracy:.3f}  "
            f"{record.seconds:5.1f}s"
        )
