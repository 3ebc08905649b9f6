"""Predictions at the hospital with both models it holds, side by side: the network's served
model and the hospital's own fine-tuned one, each with its probability, risk band, strongest
factors (SHAP, as on the server) and its scores on this hospital's validation rows. Patient
values and predictions stay at the node: nothing here calls the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medfed.core.catalog import get_disease
from medfed.core.coercion import validate_patient
from medfed.core.errors import NotFound
from medfed.ml.explain import explain
from medfed.ml.model import sigmoid
from medfed.ml.narrate import factor_sentence
from medfed.node.held_models import held, load

FACTORS = 3


def predict_both(node_home: Path, disease: str, patient: dict[str, Any]) -> dict[str, Any]:
    spec = get_disease(disease)
    row = validate_patient(spec, patient)
    answers = []
    for info in held(node_home, spec.id):
        model, info = load(node_home, spec.id, info.kind)
        if model.schema_hash != spec.schema_hash:
            continue  # kept by an older MedFed whose inputs differ; personalise again
        explanation = explain(model, model.preprocessor.transform([row])[0])
        probability = float(sigmoid(np.asarray(explanation.logit)))
        band = spec.risk_band(probability)
        order = np.argsort(-np.abs(explanation.contributions))[:FACTORS]
        answers.append(
            {
                "kind": info.kind,
                "version": info.version,
                "probability": round(probability, 4),
                "band": band.name,
                "band_title": band.title,
                "advice": band.advice,
                "factors": [
                    factor_sentence(
                        spec.features[i],
                        model.preprocessor.stats[i],
                        row[spec.features[i].name],
                        float(explanation.contributions[i]),
                    )
                    for i in order
                ],
                "validation": info.metrics,
                "epsilon": info.epsilon,
            }
        )
    if not answers:
        raise NotFound(
            f"This node holds no {spec.title.lower()} model yet: run medfed node personalise "
            f"FILE --disease {spec.id} first.",
            field="disease",
        )
    return {"disease": spec.id, "answers": answers, "comparison": compare(answers)}


def compare(answers: list[dict[str, Any]]) -> str:
    """Which model scored better on this hospital's own validation rows, in words with numbers."""
    by_kind = {a["kind"]: a["validation"] for a in answers}
    if set(by_kind) != {"global", "local"}:
        return "Only one model is held: nothing to compare yet."
    g, loc = by_kind["global"], by_kind["local"]
    rows = g.get("rows", 0)
    if not rows or g.get("roc_auc") is None or loc.get("roc_auc") is None:
        return "No validation rows were kept back here: the two cannot be compared."
    if loc["roc_auc"] == g["roc_auc"]:
        return (
            f"On this hospital's {rows} validation rows both models score AUC {g['roc_auc']:.3f}."
        )
    better = "hospital's own" if loc["roc_auc"] > g["roc_auc"] else "network's"
    note = " With under 100 rows the difference may be noise." if rows < 100 else ""
    return (
        f"On this hospital's {rows} validation rows: AUC {loc['roc_auc']:.3f} (own model) vs "
        f"{g['roc_auc']:.3f} (network's), Brier {loc['brier']:.3f} vs {g['brier']:.3f} (lower "
        f"is better); the {better} model ranks these patients better.{note}"
    )
