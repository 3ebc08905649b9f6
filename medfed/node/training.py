"""A training job at the node: check the file, pull the global model, train privately, keep the update.

Patient rows are read in one streaming pass and turned into model inputs in memory-mapped files
inside the job folder (deleted when the job ends); only the job's numbers and the parameter
update are kept.
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.coercion import Value
from medfed.core.errors import ConfigurationError, InvalidInput
from medfed.fl.privacy import Spend, choose_delta, default_learning_rate, effective_cap
from medfed.ml import metrics
from medfed.ml.accounting import Mechanism
from medfed.ml.model import DiseaseModel, forward_logits, probabilities
from medfed.ml.private_train import LocalTrainingConfig, train_locally
from medfed.node import mappings
from medfed.node.budget import planned_charge, require_room
from medfed.node.client import ServerClient
from medfed.node.intake import IntakeRefused, IntakeReport, read_rows
from medfed.node.policy import load_policy, network_cap
from medfed.node.state import NodeState

CHUNK_ROWS = 8192
VALIDATION_FRACTION = 0.2  # the default share of rows kept back (a round may choose another)

Progress = Callable[[str, int, int, float], None]  # phase, done, total, loss


class IntakeFailed(InvalidInput):
    """The file was read but cannot be trained on; `report` says everything that is wrong."""

    def __init__(self, report: IntakeReport) -> None:
        super().__init__(
            "The file cannot be used:\n- " + "\n- ".join(report.blocking), field="file"
        )
        self.report = report


@dataclass(frozen=True)
class TrainRequest:
    disease: str
    path: Path
    drop_columns: frozenset[str] = frozenset()
    skip_invalid_rows: bool = False
    epochs: int = 5
    steps: int | None = None  # exactly this many optimiser steps instead of `epochs` passes
    batch_size: int = 32
    learning_rate: float | None = None  # None: the default for the model and the privacy
    proximal_mu: float = 0.0
    validation_fraction: float = VALIDATION_FRACTION  # rows kept back as local evidence
    target_epsilon: float | None = None  # None: the network's default
    budget_rounds: int = 1  # the target covers this many such contributions (a campaign's rounds)
    no_dp: bool = False
    seed: int | None = None
    split_seed: int | None = None  # fixes which rows are local validation (rounds reuse it)


@dataclass
class PreparedData:
    report: IntakeReport
    train_inputs: np.ndarray
    train_labels: np.ndarray
    valid_inputs: np.ndarray
    valid_labels: np.ndarray


class _ArrayWriter:
    def __init__(self, folder: Path, name: str) -> None:
        self.inputs_path = folder / f"{name}_inputs.f32"
        self.labels_path = folder / f"{name}_labels.u8"
        self._inputs = self.inputs_path.open("wb")
        self._labels = self.labels_path.open("wb")
        self.rows = 0

    def write(self, inputs: np.ndarray, labels: np.ndarray) -> None:
        self._inputs.write(np.ascontiguousarray(inputs, dtype="<f4").tobytes())
        self._labels.write(np.asarray(labels, dtype=np.uint8).tobytes())
        self.rows += len(labels)

    def close(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        self._inputs.close()
        self._labels.close()
        if self.rows == 0:
            return np.zeros((0, width), dtype=np.float32), np.zeros(0, dtype=np.uint8)
        inputs = np.memmap(self.inputs_path, dtype="<f4", mode="r", shape=(self.rows, width))
        labels = np.memmap(self.labels_path, dtype=np.uint8, mode="r", shape=(self.rows,))
        return inputs, labels


def prepare(
    spec: DiseaseSpec,
    model: DiseaseModel,
    request: TrainRequest,
    workdir: Path,
    *,
    min_rows: int,
    on_progress: Progress | None = None,
    mappings: mappings.MappingBook | None = None,
) -> PreparedData:
    """Stream the CSV once: validate, split train/validation, transform in chunks to disk."""
    report = IntakeReport(spec.id, str(request.path))
    rng = np.random.default_rng(
        request.split_seed if request.split_seed is not None else request.seed
    )
    train_writer, valid_writer = _ArrayWriter(workdir, "train"), _ArrayWriter(workdir, "valid")
    width = model.preprocessor.width
    rows: list[dict[str, Value]] = []
    labels: list[int] = []

    def flush() -> None:
        if not rows:
            return
        inputs = model.preprocessor.transform(rows)
        label_array = np.asarray(labels)
        to_validation = rng.random(len(rows)) < request.validation_fraction
        train_writer.write(inputs[~to_validation], label_array[~to_validation])
        valid_writer.write(inputs[to_validation], label_array[to_validation])
        rows.clear()
        labels.clear()
        if on_progress:
            on_progress("reading", report.valid_rows, 0, math.nan)

    try:
        for row, label in read_rows(
            spec,
            request.path,
            drop_columns=set(request.drop_columns),
            min_rows=min_rows,
            skip_invalid_rows=request.skip_invalid_rows,
            report=report,
            mappings=mappings,
        ):
            rows.append(row)
            labels.append(label)
            if len(rows) >= CHUNK_ROWS:
                flush()
        flush()
    except IntakeRefused as refused:
        raise InvalidInput(str(refused), field="file") from None
    finally:
        train = train_writer.close(width)
        valid = valid_writer.close(width)
    if not report.ok:
        raise IntakeFailed(report)
    return PreparedData(report, train[0], train[1], valid[0], valid[1])


def evaluate(
    model: DiseaseModel, parameters: np.ndarray, inputs: np.ndarray, labels: np.ndarray
) -> dict[str, object]:
    if len(labels) == 0:
        return {"rows": 0}
    predicted = np.concatenate(
        [
            probabilities(
                model.architecture,
                forward_logits(
                    model.architecture,
                    parameters,
                    np.asarray(inputs[i : i + 65536], dtype=np.float64),
                ),
            )
            for i in range(0, len(labels), 65536)
        ]
    )
    return metrics.summary(np.asarray(labels, dtype=np.int64), predicted)


@dataclass
class JobResult:
    job_id: str
    disease: str
    base_version: str
    rows_train: int
    rows_validation: int
    epsilon: float | None
    delta: float | None
    noise_multiplier: float
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    intake: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_training(
    node_home: Path,
    client: ServerClient,
    request: TrainRequest,
    *,
    on_progress: Progress | None = None,
    job_id: str | None = None,
    base: tuple[bytes, str] | None = None,
) -> JobResult:
    """Train from `base` (artifact, version label), or from the training line's head if None."""
    spec = get_disease(request.disease)
    local_policy = load_policy(node_home)
    local_policy.check_disease(spec.id)
    network = client.policy()
    target = None if request.no_dp else (request.target_epsilon or float(network["target_epsilon"]))
    cap = effective_cap(network_cap(network), local_policy.epsilon_cap)
    state = NodeState(node_home)
    if state.spent(spec.id).epsilon >= cap:
        require_room(state, spec.id, math.inf if target is None else target, cap, "Training")
    # A job trains from the training line's newest checkpoint: the base a buffered
    # contribution must be fresh against (rounds pass their own base).
    blob, base_version = base or client.download_model(spec.id, line="training")
    model = DiseaseModel.from_bytes(blob)
    if model.schema_hash != spec.schema_hash:
        raise ConfigurationError(
            f"The server's {spec.title} model expects other inputs than this node's software; update MedFed."
        )
    job_id = job_id or uuid.uuid4().hex[:16]
    workdir = node_home / "jobs" / job_id
    workdir.mkdir(parents=True, exist_ok=True)
    state.start_job(job_id, spec.id)
    try:
        started = time.perf_counter()
        data = prepare(
            spec,
            model,
            request,
            workdir,
            min_rows=int(network["min_rows"]),
            on_progress=on_progress,
            mappings=mappings.load(node_home),
        )
        prepared = time.perf_counter()
        rows = len(data.train_labels)
        delta = choose_delta(rows)
        planned = planned_charge(
            state,
            spec.id,
            target=target,
            budget_rounds=request.budget_rounds,
            rows=rows,
            batch_size=request.batch_size,
            steps=request.steps,
            epochs=request.epochs,
        )
        require_room(state, spec.id, planned, cap, f"Training on {spec.title}")
        config = LocalTrainingConfig(
            epochs=request.epochs,
            steps=request.steps,
            batch_size=request.batch_size,
            learning_rate=request.learning_rate
            or default_learning_rate(target, model.architecture.kind),
            proximal_mu=request.proximal_mu,
            target_epsilon=target,
            budget_rounds=request.budget_rounds,
            delta=delta,
            seed=request.seed,
        )
        before = evaluate(model, model.parameters, data.valid_inputs, data.valid_labels)

        def training_progress(step: int, total: int, loss: float) -> None:
            if on_progress:
                on_progress("training", step, total, loss)

        trained = train_locally(
            model.architecture,
            data.train_inputs,
            data.train_labels,
            model.parameters,
            config,
            on_progress=training_progress,
        )
        finished_training = time.perf_counter()
        after = evaluate(model, trained.parameters, data.valid_inputs, data.valid_labels)
        update = (trained.parameters - model.parameters).astype("<f4")
        np.save(workdir / "update.npy", update)
        result = JobResult(
            job_id=job_id,
            disease=spec.id,
            base_version=base_version,
            rows_train=rows,
            rows_validation=len(data.valid_labels),
            epsilon=None if target is None else trained.epsilon,
            delta=None if target is None else delta,
            noise_multiplier=trained.noise_multiplier,
            steps=trained.steps,
            metrics={"global": before, "local": after},
            config={k: v for k, v in asdict(config).items() if k != "seed"},
            intake={
                k: v
                for k, v in data.report.as_dict().items()
                if k
                in (
                    "rows",
                    "valid_rows",
                    "positives",
                    "class_balance",
                    "ignored_columns",
                    "dropped_columns",
                )
            },
            seconds={
                "reading": round(prepared - started, 3),
                "training": round(finished_training - prepared, 3),
            },
        )
        if target is None:
            state.finish_job(job_id, result.as_dict(), Spend(math.inf, 0.0), rows)
            return result
        mechanism = Mechanism(trained.noise_multiplier, trained.sample_rate, trained.steps)
        charged = state.finish_job(
            job_id, result.as_dict(), Spend(trained.epsilon, delta), rows, mechanism
        )
        result.epsilon = charged  # what the ledger was charged: the entries add up
        return result
    except BaseException as exc:
        state.fail_job(job_id, getattr(exc, "message", type(exc).__name__))
        raise
    finally:
        for leftover in workdir.glob("*_inputs.f32"):
            leftover.unlink()
        for leftover in workdir.glob("*_labels.u8"):
            leftover.unlink()


def validation_probabilities(
    node_home: Path, request: TrainRequest, model: DiseaseModel, *, min_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The labels of the hospital's local validation split and the model's probabilities on
    them (each model through its own preprocessing); they never leave the node."""
    spec = get_disease(request.disease)
    workdir = node_home / "jobs" / f"evaluate-{uuid.uuid4().hex[:12]}"
    workdir.mkdir(parents=True)
    try:
        data = prepare(
            spec, model, request, workdir, min_rows=min_rows, mappings=mappings.load(node_home)
        )
        logits = model.logits_from_inputs(np.asarray(data.valid_inputs))
        return np.asarray(data.valid_labels).copy(), probabilities(model.architecture, logits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def discard_job_files(node_home: Path, job_id: str) -> None:
    shutil.rmtree(node_home / "jobs" / job_id, ignore_errors=True)
