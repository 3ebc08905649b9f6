"""One patient scored by one model: probabilities, the band, the explanation and the factors
behind it, in words. Shared by the server (doctors' predictions) and the hospital node (its two
models side by side), for binary and categorical outcomes alike; pure, no I/O.

A binary model's band comes from P(positive) and its factors explain the positive logit. A
categorical model's band is its most probable class, and its factors explain that class's logit
("makes Medium more likely"); every class's explanation is there too (`per_class`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medfed.core.catalog import DiseaseSpec, RiskBand
from medfed.core.coercion import Value
from medfed.ml.explain import Explanation, explain, explain_classes
from medfed.ml.model import DiseaseModel, probabilities
from medfed.ml.narrate import factor_sentence


@dataclass(frozen=True)
class Factor:
    feature: str
    label: str
    value: Value
    shap: float
    text: str
    imputed: bool


@dataclass(frozen=True)
class Scored:
    class_probabilities: tuple[float, ...]  # in spec.class_labels order (binary: neg, pos)
    predicted: int  # index into spec.class_labels
    probability: float  # binary: P(positive); categorical: P(the predicted class)
    band: RiskBand
    explanation: Explanation  # the positive logit, or the predicted class's
    factors: list[Factor]  # every feature, in spec order
    per_class: list[Explanation]  # categorical: one per class; binary: empty
    imputed: list[str]

    def top(self, limit: int) -> list[Factor]:
        """The strongest factors, largest push first; those with no push left out."""
        ranked = sorted(self.factors, key=lambda factor: -abs(factor.shap))
        return [factor for factor in ranked[:limit] if abs(factor.shap) > 1e-9]

    @property
    def confidence(self) -> float:
        return max(self.class_probabilities)


def score(
    spec: DiseaseSpec, model: DiseaseModel, row: dict[str, Value], *, explained: bool = True
) -> Scored:
    """Score one validated row (`validate_patient`'s output)."""
    inputs = model.preprocessor.transform([row])[0]
    logits = np.atleast_1d(model.logits_from_inputs(inputs[None, :])[0])
    per_row = probabilities(model.architecture, logits[None, :] if spec.categorical else logits)
    if spec.categorical:
        shares = tuple(float(p) for p in per_row[0])
        predicted = int(np.argmax(shares))
        probability, band = shares[predicted], spec.bands[predicted]
    else:
        positive = float(per_row[0])
        shares, predicted = (1.0 - positive, positive), int(positive >= 0.5)
        probability, band = positive, spec.risk_band(positive)
    per_class: list[Explanation] = []
    if not explained:
        logit = float(logits[predicted if spec.categorical else 0])
        explanation = Explanation("", 0.0, logit, np.zeros(len(spec.features)))
    elif spec.categorical:
        per_class = explain_classes(model, inputs)
        explanation = per_class[predicted]
    else:
        explanation = explain(model, inputs)
    imputed = model.preprocessor.imputed(row)
    effect_on = f"the chance of {spec.class_labels[predicted]}" if spec.categorical else "the risk"
    factors = [
        Factor(
            feature.name,
            feature.label,
            row[feature.name],
            round(float(contribution), 6),
            factor_sentence(
                feature, stats, row[feature.name], float(contribution), effect_on=effect_on
            ),
            feature.name in imputed,
        )
        for feature, stats, contribution in zip(
            spec.features, model.preprocessor.stats, explanation.contributions, strict=True
        )
    ]
    return Scored(shares, predicted, probability, band, explanation, factors, per_class, imputed)


def confidence_level(confidence: float) -> str:
    return "high" if confidence >= 0.85 else "medium" if confidence >= 0.65 else "low"
