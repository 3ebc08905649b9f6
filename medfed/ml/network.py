"""The PyTorch networks behind each architecture, and moving the flat parameter vector in and out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from medfed.ml.model import Architecture


def build_network(architecture: Architecture, inputs: int) -> nn.Module:
    outputs = architecture.outputs
    if architecture.kind == "logistic":
        return nn.Linear(inputs, outputs)
    return nn.Sequential(
        nn.Linear(inputs, architecture.hidden), nn.ReLU(), nn.Linear(architecture.hidden, outputs)
    )


def loss_for(architecture: Architecture) -> Callable[[torch.Tensor, torch.Tensor], Any]:
    """Binary cross-entropy on the one logit, or softmax cross-entropy over the classes (labels
    arrive as floats holding the class index)."""
    if architecture.outputs == 1:
        binary = nn.BCEWithLogitsLoss()
        return lambda logits, labels: binary(logits.squeeze(-1), labels)
    categorical = nn.CrossEntropyLoss()
    return lambda logits, labels: categorical(logits, labels.long())


def get_parameters(network: nn.Module) -> np.ndarray:
    return parameters_to_vector(network.parameters()).detach().cpu().numpy().astype(np.float64)


def set_parameters(network: nn.Module, parameters: np.ndarray) -> None:
    vector_to_parameters(torch.as_tensor(parameters, dtype=torch.float32), network.parameters())
