"""Local training of a disease model's parameter vector (FedProx when mu > 0, FedAvg when 0)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from medfed.ml.model import Architecture
from medfed.ml.network import build_network, get_parameters, loss_for, set_parameters

ProgressCallback = Callable[[int, int, float], None]  # (step, total_steps, loss)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 300
    learning_rate: float = 0.05
    batch_size: int | None = None  # None: full batch
    weight_decay: float = 1e-3
    proximal_mu: float = 0.0
    optimizer: str = "adam"
    seed: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def train_parameters(
    architecture: Architecture,
    inputs: np.ndarray,
    labels: np.ndarray,
    config: TrainingConfig,
    initial: np.ndarray | None = None,
    on_progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Minimise cross-entropy (binary or over the classes) + L2 (+ mu/2 ||w - w_initial||^2, Li et al. 2020 FedProx)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    network = build_network(architecture, inputs.shape[1])
    if initial is not None:
        set_parameters(network, initial)
    anchor = [p.detach().clone() for p in network.parameters()]
    features = torch.as_tensor(inputs, dtype=torch.float32)
    targets = torch.as_tensor(labels, dtype=torch.float32)
    optimiser: torch.optim.Optimizer
    if config.optimizer == "sgd":
        optimiser = torch.optim.SGD(network.parameters(), lr=config.learning_rate)
    else:
        optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    loss_function = loss_for(architecture)
    rows = len(features)
    batch = config.batch_size or rows
    steps_per_epoch = max(1, -(-rows // batch))
    total = config.epochs * steps_per_epoch
    step = 0
    for _ in range(config.epochs):
        order = torch.randperm(rows, generator=generator) if batch < rows else torch.arange(rows)
        for start in range(0, rows, batch):
            index = order[start : start + batch]
            optimiser.zero_grad()
            loss = loss_function(network(features[index]), targets[index])
            penalty = sum((p**2).sum() for p in network.parameters() if p.dim() > 1)
            loss = loss + config.weight_decay * 0.5 * penalty
            if config.proximal_mu > 0:
                proximal = sum(
                    ((p - a) ** 2).sum() for p, a in zip(network.parameters(), anchor, strict=True)
                )
                loss = loss + config.proximal_mu * 0.5 * proximal
            loss.backward()
            optimiser.step()
            step += 1
            if on_progress is not None:
                on_progress(step, total, float(loss.detach()))
    return get_parameters(network)
