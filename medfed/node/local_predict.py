"""Predictions at the hospital with both models it holds, side by side: the network's served
model and the hospital's own fine-tuned one, each with its probability (or, for a categorical
outcome, every class's), risk band, strongest factors (SHAP, as on the server) and its scores on
this hospital's validation rows. A registered admission can be scored directly: its diagnoses
become the comorbidity model's inputs here. Patient values and predictions stay at the node:
nothing here calls the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.coercion import validate_patient
from medfed.core.errors import NotFound
from medfed.ml.predict import score
from medfed.node.held_models import held, load
from medfed.node.registry.features import DISEASE, admission_inputs
from medfed.node.registry.store import Registry

FACTORS = 3


def predict_both(node_home: Path, disease: str, patient: dict[str, Any]) -> dict[str, Any]:
    spec = get_disease(disease)
    row = validate_patient(spec, patient)
    answers = []
    for info in held(node_home, spec.id):
        model, info = load(node_home, spec.id, info.kind)
        if model.schema_hash != spec.schema_hash:
            continue  # kept by an older MedFed whose inputs differ; personalise again
        scored = score(spec, model, row)
        answers.append(
            {
                "kind": info.kind,
                "version": info.version,
                "probability": round(scored.probability, 4),
                "predicted": spec.class_labels[scored.predicted],
                "classes": _classes(spec, scored.class_probabilities),
                "band": scored.band.name,
                "band_title": scored.band.title,
                "advice": scored.band.advice,
                "factors": [factor.text for factor in scored.top(FACTORS)],
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
    return {
        "disease": spec.id,
        "categorical": spec.categorical,
        "answers": answers,
        "comparison": compare(answers),
    }


def predict_admission(
    node_home: Path, secure_id: str, hadm_id: str | None = None
) -> dict[str, Any]:
    """Score a registered patient's admission (the latest unless named) with both models."""
    patient, admissions = Registry(node_home).patient(secure_id)
    if not admissions:
        raise NotFound(
            f"{patient.secure_id} has no admissions yet: add one with its diagnoses first.",
            field="hadm_id",
        )
    chosen = admissions[-1] if hadm_id is None else None
    for admission in admissions:
        if admission.hadm_id == hadm_id:
            chosen = admission
    if chosen is None:
        raise NotFound(f"{patient.secure_id} has no admission {hadm_id}.", field="hadm_id")
    derived = admission_inputs(patient, chosen)
    return {
        "secure_id": patient.secure_id,
        "admission": derived.as_dict(),
        **predict_both(node_home, DISEASE, derived.inputs),
    }


def _classes(spec: DiseaseSpec, shares: tuple[float, ...]) -> dict[str, float] | None:
    if not spec.categorical:
        return None
    return {label: round(p, 4) for label, p in zip(spec.class_labels, shares, strict=True)}


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
