"""A federated simulation: public data split into hospitals, each a real node process, one real
server process, rounds opened through the REST API, and every round's deployed model scored on
each hospital's held-out test rows (which no node ever trains on).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from medfed.core.catalog import get_disease
from medfed.ml.model import DiseaseModel
from medfed.simulation.hospitals import Hospital, HospitalPlan, build_hospitals, score
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
    local_epochs: int = 5
    learning_rate: float = 0.05
    batch_size: int = 32
    proximal_mu: float = 0.01
    epsilon: float | None = None  # total per hospital over all rounds; None: no DP
    test_fraction: float = 0.34
    start: str = "untrained"  # or "baseline"
    tolerance: float = 0.01
    secure: bool = True
    seed: int = 0
    round_timeout: float = 600.0
    specs_dir: Path | None = None  # extra disease specs, given to the server and every node
    strategy_options: dict[str, float] = field(default_factory=dict)


@dataclass
class RoundRecord:
    round: int
    status: str
    version: str
    per_site: dict[str, float]
    mean_site_accuracy: float
    combined_accuracy: float
    combined_auc: float
    seconds: float
    reason: str | None = None


@dataclass
class SimulationResult:
    config: dict[str, Any]
    hospitals: dict[str, dict[str, int]]
    start: RoundRecord
    rounds: list[RoundRecord] = field(default_factory=list)

    @property
    def deployed(self) -> int:
        return sum(r.status == "deployed" for r in self.rounds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "hospitals": self.hospitals,
            "start": asdict(self.start),
            "rounds": [asdict(r) for r in self.rounds],
            "deployed": self.deployed,
        }


class Simulation:
    def __init__(self, config: SimulationConfig, say: Say = print) -> None:
        self.config = config
        self.say = say
        self.spec = get_disease(config.disease)
        self.background = Background()
        self.url = ""
        self.headers: dict[str, str] = {}

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
        )
        hospitals = build_hospitals(plan, self.spec)
        min_rows = max(1, min(len(h.train) for h in hospitals) // 2)
        try:
            self._start_server(min_rows)
            self._start_nodes(hospitals)
            start = self._record(0, "start", hospitals, time.monotonic(), None)
            result = SimulationResult(
                config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
                hospitals={h.name: {"train": len(h.train), "test": len(h.test)} for h in hospitals},
                start=start,
            )
            self._say_row(start)
            for number in range(1, config.rounds + 1):
                record = self._one_round(number, hospitals, min_rows)
                result.rounds.append(record)
                self._say_row(record)
            return result
        finally:
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
            "admin_password": password,
            "policy_min_rows": min_rows,
            "round_tick_seconds": 0.2,
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
        token = httpx.post(
            self.url + API + "/auth/token", json={"username": "admin", "password": password}
        )
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.say(f"Server at {self.url} (logs in {config.workdir})")

    def _start_nodes(self, hospitals: list[Hospital]) -> None:
        hospital_ids = []
        for index, hospital in enumerate(hospitals):
            created = httpx.post(
                self.url + API + "/hospitals",
                json={"name": f"{hospital.name} (simulated)"},
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
            medfed(
                node_config,
                "node",
                "enroll",
                "--server",
                self.url,
                "--token",
                token,
                "--name",
                f"node-{index}",
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
                ],
                self.config.workdir / f"node-{index}.log",
            )
            self.say(f"Node {index}: {hospital.name}, {len(hospital.train)} training rows")
        self._wait_for_nodes(hospital_ids)

    def _wait_for_nodes(self, hospital_ids: list[int], timeout: float = 180) -> None:
        """Until every node has polled the server once it runs, so none misses round 1."""
        since = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        waiting = set(hospital_ids)
        while waiting and time.monotonic() < deadline:
            for hospital_id in list(waiting):
                nodes = httpx.get(
                    f"{self.url}{API}/hospitals/{hospital_id}/nodes", headers=self.headers
                ).json()
                seen = [n["last_seen_at"] for n in nodes if n["last_seen_at"]]
                if seen and max(datetime.fromisoformat(t) for t in seen) > since:
                    waiting.discard(hospital_id)
            time.sleep(0.3)
        if waiting:
            raise RuntimeError(f"{len(waiting)} node(s) did not start; see {self.config.workdir}")

    # Rounds --------------------------------------------------------------------------------

    def _round_body(self, hospitals: list[Hospital], min_rows: int) -> dict[str, Any]:
        config = self.config
        per_round = None if config.epsilon is None else config.epsilon / config.rounds
        return {
            "disease": self.spec.id,
            "strategy": config.strategy,
            "strategy_options": config.strategy_options,
            # A hospital whose file cannot be used (e.g. one class only) declines; the round
            # goes ahead with the others once half have joined and a short grace has passed.
            "min_hospitals": max(1, len(hospitals) // 2),
            "max_hospitals": len(hospitals),
            "min_rows": max(1, int(min_rows * 0.5)),
            "local_epochs": config.local_epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "proximal_mu": config.proximal_mu if config.strategy == "fedprox" else 0.0,
            "target_epsilon": per_round,
            "grace_seconds": 3,
            "join_seconds": config.round_timeout,
            "submit_seconds": min(config.round_timeout, 300),
            "evaluate_seconds": 60,
            "tolerance": config.tolerance,
            "norm_bound": 100.0,
            "secure": config.secure,
        }

    def _one_round(self, number: int, hospitals: list[Hospital], min_rows: int) -> RoundRecord:
        started = time.monotonic()
        opened = httpx.post(
            self.url + API + "/rounds",
            json=self._round_body(hospitals, min_rows),
            headers=self.headers,
        )
        if opened.status_code != 201:
            raise RuntimeError(f"could not open round {number}: {opened.text}")
        round_id = opened.json()["id"]
        deadline = started + self.config.round_timeout
        while time.monotonic() < deadline:
            state = httpx.get(f"{self.url}{API}/rounds/{round_id}", headers=self.headers).json()
            if state["status"] in ("deployed", "rejected", "failed"):
                return self._record(number, state["status"], hospitals, started, state["reason"])
            time.sleep(0.2)
        raise RuntimeError(f"round {number} did not finish in {self.config.round_timeout:.0f} s")

    def _active_model(self) -> tuple[DiseaseModel, str]:
        detail = httpx.get(f"{self.url}{API}/models/{self.spec.id}", headers=self.headers).json()
        version = detail["active_version"]
        blob = httpx.get(
            f"{self.url}{API}/models/{self.spec.id}/versions/{version}/artifact",
            headers=self.headers,
        ).content
        return DiseaseModel.from_bytes(blob), version

    def _record(
        self,
        number: int,
        status: str,
        hospitals: list[Hospital],
        started: float,
        reason: str | None,
    ) -> RoundRecord:
        model, version = self._active_model()
        per_site, mean_site, combined, auc = score(model, hospitals)
        return RoundRecord(
            number,
            status,
            version,
            per_site,
            mean_site,
            combined,
            auc,
            round(time.monotonic() - started, 2),
            reason,
        )

    def _say_row(self, record: RoundRecord) -> None:
        sites = "  ".join(f"{v:.3f}" for v in record.per_site.values())
        self.say(
            f"round {record.round:>2}  {record.status:<9} {record.version:<6} "
            f"sites {sites}  mean {record.mean_site_accuracy:.3f}  "
            f"combined {record.combined_accuracy:.3f}  auc {record.combined_auc:.3f}  "
            f"{record.seconds:5.1f}s"
        )
