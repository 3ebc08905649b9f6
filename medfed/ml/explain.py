"""SHAP values per feature, on the logit scale, against the model's background rows.

Interventional Shapley values (Lundberg & Lee 2017, "A Unified Approach to Interpreting Model
Predictions"): features outside a coalition take values from background rows.
- Linear models: exact closed form, phi_i = sum over the feature's input columns of
  w_j * (x_j - mean_background_j).
- Other models: the permutation estimator of Strumbelj & Kononenko (2014) with antithetic
  permutations; each permutation's marginal contributions telescope, so
  base_value + sum(phi) equals the model's logit exactly, whatever the sample size.
A categorical model has one logit per class; each class's is explained on its own
(`explain(..., output=k)`, or `explain_classes` for all), as SHAP does for a multi-output model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medfed.ml.model import DiseaseModel, forward_logits

PERMUTATION_PAIRS = 8
PERMUTATION_SEED = 7


@dataclass(frozen=True)
class Explanation:
    method: str
    base_value: float  # mean logit over the background rows
    logit: float
    contributions: np.ndarray  # one per spec feature, in spec order


def explain(model: DiseaseModel, inputs: np.ndarray, output: int = 0) -> Explanation:
    """Explain one transformed input row (shape (width,)): the logit of a binary model, or of
    class `output` of a categorical one."""
    if not 0 <= output < model.architecture.outputs:
        raise ValueError(f"the model has {model.architecture.outputs} outputs, not {output + 1}")
    if model.architecture.kind == "logistic":
        return _exact_linear(model, inputs, output)
    return _permutation(model, inputs, output)


def explain_classes(model: DiseaseModel, inputs: np.ndarray) -> list[Explanation]:
    """One explanation per class of a categorical model (one in all for a binary model)."""
    return [explain(model, inputs, k) for k in range(model.architecture.outputs)]


def _logit(model: DiseaseModel, inputs: np.ndarray, output: int) -> np.ndarray:
    """The explained logit for a batch of rows."""
    logits = forward_logits(model.architecture, model.parameters, inputs)
    return logits if logits.ndim == 1 else logits[:, output]


def _exact_linear(model: DiseaseModel, inputs: np.ndarray, output: int) -> Explanation:
    width, outputs = inputs.shape[0], model.architecture.outputs
    weights = model.parameters[output * width : (output + 1) * width]
    bias = model.parameters[outputs * width + output]
    reference = model.background.mean(axis=0)
    per_column = weights * (inputs - reference)
    contributions = np.bincount(
        model.preprocessor.column_feature,
        weights=per_column,
        minlength=len(model.preprocessor.stats),
    )
    base = float(weights @ reference + bias)
    logit = float(weights @ inputs + bias)
    return Explanation("exact linear SHAP", base, logit, contributions)


def _permutation(model: DiseaseModel, inputs: np.ndarray, output: int) -> Explanation:
    features = len(model.preprocessor.stats)
    column_feature = model.preprocessor.column_feature
    background = model.background
    rng = np.random.default_rng(PERMUTATION_SEED)
    orders = []
    for _ in range(PERMUTATION_PAIRS):
        order = rng.permutation(features)
        orders.extend([order, order[::-1]])
    # hybrids[p, b, k]: background row b with the first k features of permutation p from `inputs`.
    permutations, rows, width = len(orders), background.shape[0], inputs.shape[0]
    hybrids = np.broadcast_to(background, (permutations, features + 1, rows, width)).copy()
    for p, order in enumerate(orders):
        taken = np.zeros(width, dtype=bool)
        for k, feature in enumerate(order, start=1):
            taken |= column_feature == feature
            hybrids[p, k, :, taken] = inputs[taken][:, None]
    logits = _logit(model, hybrids.reshape(-1, width), output)
    logits = logits.reshape(permutations, features + 1, rows)
    steps = np.diff(logits, axis=1).mean(axis=2)  # (permutations, features) in permutation order
    contributions = np.zeros(features)
    for p, order in enumerate(orders):
        contributions[order] += steps[p]
    contributions /= permutations
    base = float(logits[:, 0, :].mean())
    logit = float(_logit(model, inputs[None, :], output)[0])
    return Explanation("permutation SHAP (antithetic, 16 permutations)", base, logit, contributions)
