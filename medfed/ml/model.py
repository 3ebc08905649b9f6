"""A disease model: fixed preprocessing plus one flat parameter vector.

The same vector is what the baseline trains, what hospitals update and what the server
aggregates. Serving runs a NumPy forward pass; training builds the matching PyTorch network.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from medfed.core.coercion import Value
from medfed.ml.preprocess import Preprocessor

ARTIFACT_FORMAT = "medfed-model/1"


@dataclass(frozen=True)
class Architecture:
    kind: Literal["logistic", "mlp"]
    hidden: int = 0
    # One logit (binary: the positive class through a sigmoid), or one per class of a
    # categorical outcome (a softmax over them).
    outputs: int = 1

    def parameter_count(self, inputs: int) -> int:
        if self.kind == "logistic":
            return (inputs + 1) * self.outputs
        return self.hidden * inputs + self.hidden + (self.hidden + 1) * self.outputs

    def describe(self) -> str:
        family = (
            "logistic regression"
            if self.kind == "logistic"
            else f"MLP, {self.hidden} hidden ReLU units"
        )
        if self.outputs == 1:
            return family
        softmax = "multinomial " + family if self.kind == "logistic" else family + ", softmax"
        return f"{softmax} over {self.outputs} classes"


def forward_logits(
    architecture: Architecture, parameters: np.ndarray, inputs: np.ndarray
) -> np.ndarray:
    """Logits for a batch: shape (rows,) for one output, (rows, outputs) for several. The
    parameter layout is PyTorch's (weight, bias per layer, row-major)."""
    width, outputs = inputs.shape[1], architecture.outputs
    if architecture.kind == "logistic":
        if outputs == 1:
            return np.asarray(inputs @ parameters[:width] + parameters[width])
        weights = parameters[: outputs * width].reshape(outputs, width)
        return np.asarray(inputs @ weights.T + parameters[outputs * width :])
    hidden = architecture.hidden
    w1 = parameters[: hidden * width].reshape(hidden, width)
    offset = hidden * width
    b1 = parameters[offset : offset + hidden]
    offset += hidden
    activations = np.maximum(inputs @ w1.T + b1, 0.0)
    if outputs == 1:
        return np.asarray(activations @ parameters[offset : offset + hidden] + parameters[-1])
    w2 = parameters[offset : offset + outputs * hidden].reshape(outputs, hidden)
    return np.asarray(activations @ w2.T + parameters[offset + outputs * hidden :])


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * logits)))  # overflow-free logistic function


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits of shape (rows, classes), without overflow."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))


def probabilities(architecture: Architecture, logits: np.ndarray) -> np.ndarray:
    """P(positive) per row for one output; per-class probabilities for several."""
    return sigmoid(logits) if architecture.outputs == 1 else softmax(logits)


@dataclass(frozen=True)
class DiseaseModel:
    disease: str
    schema_hash: str
    architecture: Architecture
    preprocessor: Preprocessor
    parameters: np.ndarray
    background: np.ndarray  # transformed public training rows: the reference for explanations

    def logits_from_inputs(self, inputs: np.ndarray) -> np.ndarray:
        return forward_logits(self.architecture, self.parameters, inputs)

    def predict_proba(self, rows: list[dict[str, Value]]) -> np.ndarray:
        """P(positive) per row, shape (rows,); or per class, shape (rows, classes)."""
        logits = self.logits_from_inputs(self.preprocessor.transform(rows))
        return probabilities(self.architecture, logits)

    def with_parameters(self, parameters: np.ndarray) -> DiseaseModel:
        if parameters.shape != self.parameters.shape:
            raise ValueError(
                f"expected {self.parameters.shape[0]} parameters, got {parameters.shape}"
            )
        return DiseaseModel(
            self.disease,
            self.schema_hash,
            self.architecture,
            self.preprocessor,
            np.asarray(parameters, dtype=np.float64),
            self.background,
        )

    def to_bytes(self) -> bytes:
        meta = {
            "format": ARTIFACT_FORMAT,
            "disease": self.disease,
            "schema_hash": self.schema_hash,
            "architecture": {
                "kind": self.architecture.kind,
                "hidden": self.architecture.hidden,
                "outputs": self.architecture.outputs,
            },
            "preprocessor": self.preprocessor.to_dict(),
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            parameters=self.parameters.astype(np.float64),
            background=self.background.astype(np.float64),
            meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> DiseaseModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            meta: dict[str, Any] = json.loads(archive["meta"].tobytes().decode())
            parameters = archive["parameters"].astype(np.float64)
            background = archive["background"].astype(np.float64)
        if meta.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unknown model artifact format {meta.get('format')!r}")
        architecture = Architecture(**meta["architecture"])
        preprocessor = Preprocessor.from_dict(meta["preprocessor"])
        if parameters.shape != (architecture.parameter_count(preprocessor.width),):
            raise ValueError("model artifact parameters do not match its architecture")
        if background.ndim != 2 or background.shape[1] != preprocessor.width:
            raise ValueError("model artifact background does not match its preprocessing")
        return cls(
            meta["disease"], meta["schema_hash"], architecture, preprocessor, parameters, background
        )
