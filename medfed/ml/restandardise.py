"""A model re-expressed in another standardisation of its number features (pure).

Inputs are standardised as x' = (x - m) / s. Moving a feature to a new centre and scale
(m2, s2), e.g. the network-wide mean and standard deviation that federated analytics
released, changes the first layer so the model computes the same function of the raw values:
x' = (s2 x'' + m2 - m) / s, hence W' = W s2 / s for that column and b' = b + W (m2 - m) / s.
Predictions do not move; training from the new version standardises with the new figures.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from medfed.ml.model import DiseaseModel
from medfed.ml.preprocess import Preprocessor


def restandardise(model: DiseaseModel, centres: dict[str, tuple[float, float]]) -> DiseaseModel:
    """`model` with each named number feature standardised by (mean, sd) instead."""
    stats = list(model.preprocessor.stats)
    names = [s.name for s in stats]
    width = model.preprocessor.width
    first = (
        model.architecture.outputs
        if model.architecture.kind == "logistic"
        else (model.architecture.hidden)
    )
    parameters = model.parameters.copy()
    weights = parameters[: first * width].reshape(first, width)  # a view: edits land in place
    biases = parameters[first * width : first * width + first]
    background = model.background.copy()
    starts = np.concatenate([[0], np.cumsum([s.width for s in stats])])
    for name, (mean, sd) in centres.items():
        if name not in names:
            raise ValueError(f"the model has no feature {name!r}")
        index = names.index(name)
        old = stats[index]
        if old.kind != "number":
            raise ValueError(f"{name} is a {old.kind} feature; only number features are scaled")
        if not (np.isfinite(mean) and np.isfinite(sd) and sd > 0):
            raise ValueError(f"{name}: the mean must be finite and the sd positive")
        column = int(starts[index])
        biases += weights[:, column] * (mean - old.mean) / old.scale
        weights[:, column] *= sd / old.scale
        background[:, column] = (background[:, column] * old.scale + old.mean - mean) / sd
        stats[index] = replace(old, mean=float(mean), scale=float(sd))
    moved = replace(model, preprocessor=Preprocessor(tuple(stats)), background=background)
    return moved.with_parameters(parameters)
