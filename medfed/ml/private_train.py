"""Local training on a hospital's rows: DP-SGD through Opacus, FedProx, progress, memory-flat data.

DP-SGD (Abadi et al. 2016): per-sample gradients are clipped to `max_grad_norm`, Gaussian noise
is added, batches are Poisson-sampled, and the RDP accountant (Mironov 2017) turns the noise,
sampling rate and steps into epsilon at the chosen delta. The FedProx term mu/2 ||w - w_global||^2
(Li et al. 2020) does not depend on data, so it is applied as its own step after each private
step: post-processing, costing no privacy.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medfed.ml.accounting import Mechanism, composed_epsilon, noise_for
from medfed.ml.model import Architecture
from medfed.ml.network import build_network, get_parameters, loss_for, set_parameters

ProgressCallback = Callable[[int, int, float], None]


class ArrayDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Rows from arrays that may be memory-mapped files; batches are fetched in one slice."""

    def __init__(self, inputs: np.ndarray, labels: np.ndarray) -> None:
        self.inputs = inputs
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(np.asarray(self.inputs[index], dtype=np.float32)),
            torch.as_tensor(float(self.labels[index])),
        )

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        order = np.sort(np.asarray(indices, dtype=np.int64))
        batch = np.asarray(self.inputs[order], dtype=np.float32)
        labels = np.asarray(self.labels[order], dtype=np.float32)
        return [(torch.from_numpy(batch[i]), torch.tensor(labels[i])) for i in range(len(order))]


def _collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    if not items:
        return torch.zeros(0), torch.zeros(0)
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


@dataclass(frozen=True)
class LocalTrainingConfig:
    epochs: int = 5
    # Exactly this many optimiser steps instead of `epochs` passes over the rows. FedAvg with the
    # same number of steps at every hospital optimises the federation's objective; with a fixed
    # number of epochs a large hospital takes more steps and pulls the average toward its own
    # optimum (Wang et al. 2020, "objective inconsistency").
    steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 0.05
    proximal_mu: float = 0.0
    target_epsilon: float | None = 1.0  # None: no differential privacy
    # The target covers this many contributions like this one (a campaign's rounds): the noise is
    # set so that all of them together compose to target_epsilon under Renyi DP.
    budget_rounds: int = 1
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    seed: int | None = None  # None in production: the noise must not be reproducible


@dataclass(frozen=True)
class LocalTrainingResult:
    parameters: np.ndarray
    epsilon: float  # math.inf without DP
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int


def train_locally(
    architecture: Architecture,
    inputs: np.ndarray,
    labels: np.ndarray,
    initial: np.ndarray,
    config: LocalTrainingConfig,
    on_progress: ProgressCallback | None = None,
) -> LocalTrainingResult:
    seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
    # Small networks: a second intra-op thread gains little alone (about 8 % at 100k rows) and,
    # where several nodes share the cores, its spinning costs more than it gives.
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = build_network(architecture, inputs.shape[1])
    set_parameters(network, initial)
    anchor = [p.detach().clone() for p in network.parameters()]
    optimiser: torch.optim.Optimizer = torch.optim.SGD(
        network.parameters(), lr=config.learning_rate
    )
    dataset = ArrayDataset(inputs, labels)
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=_collate,
    )
    engine = None
    steps_per_epoch = max(1, len(loader))
    planned_steps = config.steps if config.steps is not None else steps_per_epoch * config.epochs
    if config.target_epsilon is not None:
        from opacus import PrivacyEngine

        noise = noise_for(
            config.target_epsilon,
            config.delta,
            len(loader),
            planned_steps * max(1, config.budget_rounds),
        )
        with warnings.catch_warnings():
            # Opacus warns that secure_mode is off: its CSPRNG needs torchcsprng, not available
            # for this torch build. Noise comes from torch's generator seeded from os.urandom.
            warnings.simplefilter("ignore")
            engine = PrivacyEngine(accountant="rdp", secure_mode=False)
            network, optimiser, loader = engine.make_private(
                module=network,
                optimizer=optimiser,
                data_loader=loader,
                noise_multiplier=noise,
                max_grad_norm=config.max_grad_norm,
            )
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    loss_function = loss_for(architecture)
    total = planned_steps
    step = 0
    for _ in range(math.ceil(total / steps_per_epoch)):
        for features, targets in loader:
            if step == total:
                break
            optimiser.zero_grad()
            if len(targets) == 0:  # Poisson sampling can draw an empty batch; it still counts
                optimiser.step() if engine is None else _empty_private_step(optimiser)
            else:
                loss = loss_function(network(features), targets)
                loss.backward()
                optimiser.step()
            if config.proximal_mu > 0:
                with torch.no_grad():
                    for parameter, reference in zip(network.parameters(), anchor, strict=True):
                        parameter.sub_(
                            config.learning_rate * config.proximal_mu * (parameter - reference)
                        )
            step += 1
            if on_progress is not None:
                on_progress(step, total, float(loss.detach()) if len(targets) else math.nan)
    wrapped = getattr(network, "_module", None)  # Opacus wraps the network in a GradSampleModule
    plain = wrapped if isinstance(wrapped, nn.Module) else network
    epsilon = math.inf
    noise = 0.0
    sample_rate = 1.0 / steps_per_epoch
    if engine is not None and config.target_epsilon is not None:
        noise = float(optimiser.noise_multiplier)  # type: ignore[attr-defined]
        sample_rate = float(loader.sample_rate)  # type: ignore[attr-defined]  # Opacus's DPDataLoader
        epsilon = composed_epsilon([Mechanism(noise, sample_rate, step)], config.delta)
    return LocalTrainingResult(
        get_parameters(plain), epsilon, config.delta if engine else 0.0, noise, sample_rate, step
    )


def _empty_private_step(optimiser: torch.optim.Optimizer) -> None:
    # Opacus needs per-sample gradients to exist; with none sampled, only the noise is added.
    for group in optimiser.param_groups:
        for parameter in group["params"]:
            parameter.grad_sample = torch.zeros((0, *parameter.shape))
    optimiser.step()
