"""What DP buys, measured: membership inference against federated models with and without DP.

The target is trained the way a MedFed network trains it: FedAvg over the hospitals, each
training locally with MedFed's own DP-SGD path (`train_locally`, the nodes' settings, the
hospital's epsilon for all the rounds, composed under Renyi DP as a campaign's is, delta = min(1e-5, 1/(10 n))), in this process rather
than through the server (secure aggregation changes who sees the sum, not the sum). Members are
the hospitals' training rows, non-members their held-out rows, in equal numbers.

Two attacks:
- loss threshold (Yeom et al. 2018): a lower loss on a row says "member";
- shadow model (Shokri et al. 2017): a shadow federation trained the same way on half of each
  hospital's held-out rows; an attack classifier learns, from the shadow's outputs (loss,
  confidence in the true label, |logit|), to tell its training rows from the other half, and is
  then applied to the target's outputs.
An attack AUC of 0.5 is a coin toss.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fl_runs import BATCH, DATASETS, LEARNING_RATE, LOCAL_STEPS, SPECS, start_model
from harness import header
from privacy import EPSILONS, SETUPS, TABLE_HEAD, _key

from medfed.core.catalog import get_disease, use_spec_folder
from medfed.fl.privacy import DP_LEARNING_RATE, default_learning_rate
from medfed.ml import metrics
from medfed.ml.datasets import LabelledData
from medfed.ml.model import DiseaseModel
from medfed.ml.private_train import LocalTrainingConfig, train_locally
from medfed.simulation.hospitals import HospitalPlan, build_hospitals, public_holdout_default

EPS = 1e-7


def federate(
    start: DiseaseModel,
    parts: list[LabelledData],
    rounds: int,
    epsilon: float | None,
    seed: int,
) -> DiseaseModel:
    """FedAvg over `parts`, each trained with DP-SGD whose rounds compose to `epsilon`."""
    parameters = start.parameters
    inputs = [start.preprocessor.transform(part.rows) for part in parts]
    for number in range(rounds):
        updates, weights = [], []
        for index, part in enumerate(parts):
            if len(part) < 2 or len(set(part.labels.tolist())) < 2:
                continue
            config = LocalTrainingConfig(
                steps=LOCAL_STEPS,
                batch_size=BATCH,
                learning_rate=default_learning_rate(epsilon, start.architecture.kind),
                target_epsilon=epsilon,
                budget_rounds=rounds,
                delta=min(1e-5, 1 / (10 * len(part))),
                seed=seed * 10_000 + number * 100 + index,
            )
            trained = train_locally(
                start.architecture, inputs[index], part.labels, parameters, config
            )
            updates.append(trained.parameters - parameters)
            weights.append(len(part))
        parameters = parameters + np.average(np.stack(updates), axis=0, weights=weights)
    return start.with_parameters(parameters)


def _features(model: DiseaseModel, data: LabelledData) -> np.ndarray:
    p = np.clip(model.predict_proba(data.rows), EPS, 1 - EPS)
    y = np.asarray(data.labels, dtype=np.float64)
    true_p = np.where(y == 1, p, 1 - p)
    loss = -np.log(true_p)
    logit = np.abs(np.log(p / (1 - p)))
    return np.column_stack([loss, true_p, logit])


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, steps: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton's method on standardised features with a small ridge: the attack classifier."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + 1e-3 * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + 1e-3 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    return w, mean, scale


def _score(w: np.ndarray, mean: np.ndarray, scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    return np.asarray(z @ w)


def _half(data: LabelledData, rng: np.random.Generator) -> tuple[LabelledData, LabelledData]:
    order = rng.permutation(len(data))
    cut = len(order) // 2
    return data.subset(order[:cut]), data.subset(order[cut:])


def audit(
    disease: str, hospitals: str, rounds: int, epsilon: float | None, seed: int, folder: Path
) -> dict[str, float]:
    use_spec_folder(SPECS)
    spec = get_disease(disease)
    folder.mkdir(parents=True, exist_ok=True)
    plan = HospitalPlan(
        DATASETS, folder, hospitals, seed=seed, public_holdout=public_holdout_default(hospitals)
    )
    sites = build_hospitals(plan, spec)
    start = start_model(disease)
    rng = np.random.default_rng(seed)
    target = federate(start, [s.train for s in sites], rounds, epsilon, seed)
    members = np.concatenate([_features(target, s.train) for s in sites])
    outsiders = np.concatenate([_features(target, s.test) for s in sites])
    count = min(len(members), len(outsiders))
    members = members[rng.choice(len(members), count, replace=False)]
    outsiders = outsiders[rng.choice(len(outsiders), count, replace=False)]
    truth = np.concatenate([np.ones(count), np.zeros(count)])
    both = np.concatenate([members, outsiders])
    loss_auc = metrics.roc_auc(truth, -both[:, 0])
    halves = [_half(s.test, rng) for s in sites]
    shadow = federate(start, [inside for inside, _ in halves], rounds, epsilon, seed + 1)
    shadow_x = np.concatenate(
        [_features(shadow, inside) for inside, _ in halves]
        + [_features(shadow, outside) for _, outside in halves]
    )
    shadow_y = np.concatenate(
        [np.ones(len(inside)) for inside, _ in halves]
        + [np.zeros(len(outside)) for _, outside in halves]
    )
    w, mean, scale = _fit_logistic(shadow_x, shadow_y)
    shadow_auc = metrics.roc_auc(truth, _score(w, mean, scale, both))
    return {"loss_auc": float(loss_auc), "shadow_auc": float(shadow_auc), "rows": float(count)}


ROUNDS = 10


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    rounds, seeds = (1, [0]) if quick else (ROUNDS, [0, 1])
    setups = SETUPS[:1] if quick else SETUPS
    epsilons = (None, 3.0) if quick else EPSILONS
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="medfed-bench-membership-") as tmp:
        for disease, hospitals in setups:
            for epsilon in epsilons:
                for seed in seeds:
                    found = audit(
                        disease,
                        hospitals,
                        rounds,
                        epsilon,
                        seed,
                        Path(tmp) / f"{disease}-{_key(epsilon)}-{seed}",
                    )
                    row = table.setdefault(disease, {}).setdefault(_key(epsilon), {})
                    for name, value in found.items():
                        row.setdefault(name, []).append(value)
    local = (
        f"{LOCAL_STEPS} local steps (SGD, lr {LEARNING_RATE:g} without DP and "
        f"{DP_LEARNING_RATE:g} for an MLP under DP-SGD, batches of {BATCH})"
    )
    return len(seeds), {"rounds": rounds, "seeds": seeds, "local": local, "results": table}


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"FedAvg over the same hospitals as the privacy table, {record['rounds']} rounds of "
        f"{record.get('local', '5 local epochs')} from an untrained start, each hospital's "
        "epsilon covering all "
        f"the rounds (Rényi composition, as a campaign's), seeds {', '.join(map(str, record['seeds']))}; members are the hospitals' "
        "training rows, non-members their held-out rows, in equal numbers. Attack AUC, loss "
        "threshold / shadow model, mean over seeds (0.5: the attacker learns nothing; MedFed's "
        "target at ε = 1 is at most 0.55).",
        "",
        *TABLE_HEAD,
    ]
    for disease, rows in record["results"].items():
        cells = []
        for epsilon in EPSILONS:
            row = rows.get(_key(epsilon))
            if not row:
                cells.append("not run")
                continue
            loss = float(np.mean(row["loss_auc"]))
            shadow = float(np.mean(row["shadow_auc"]))
            cells.append(f"{loss:.3f} / {shadow:.3f}")
        lines.append(f"| {disease} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
