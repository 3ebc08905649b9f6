"""The PyTorch networks behind each architecture, and moving the flat parameter vector in and out."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from medfed.ml.model import Architecture


def build_network(architecture: Architecture, inputs: int) -> nn.Module:
    if architecture.kind == "logistic":
        return nn.Linear(inputs, 1)
    return nn.Sequential(
        nn.Linear(inputs, architecture.hidden), nn.ReLU(), nn.Linear(architecture.hidden, 1)
    )


def get_parameters(network: nn.Module) -> np.ndarray:
    return parameters_to_vector(network.parameters()).detach().cpu().numpy().astype(np.float64)


def set_parameters(network: nn.Module, parameters: np.ndarray) -> None:
    vector_to_parameters(torch.as_tensor(parameters, dtype=torch.float32), network.parameters())
