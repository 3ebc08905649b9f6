"""A MedFed prediction as a FHIR R4 RiskAssessment (pure), checked with fhir.resources before
it is sent: the probability and the qualitative risk per outcome, the observations it was
based on, the model version as the method, and the main factors and conversions as notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medfed.core.catalog import DiseaseSpec
from medfed.core.clock import isoformat

RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
METHOD_SYSTEM = "urn:medfed:model"
QUALITATIVE = {"low", "moderate", "high"}  # MedFed's bands that risk-probability also names


def risk_assessment(
    spec: DiseaseSpec,
    result: Any,
    *,
    subject: str | None,
    basis: list[str],
    when: datetime,
    notes: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """`result` is a prediction (probability, band, version, class probabilities, factors)."""
    version = result.model_version
    body: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "occurrenceDateTime": isoformat(when),
        "method": {
            "coding": [{"system": METHOD_SYSTEM, "code": f"{spec.id}/{version}"}],
            "text": f"MedFed {spec.title} model {version}",
        },
        "prediction": _predictions(spec, result),
    }
    # R4 requires a subject; a patient sent as MedFed JSON has no identity here to refer to.
    body["subject"] = {"reference": subject} if subject else {"display": "the patient described"}
    if basis:
        body["basis"] = [{"reference": reference} for reference in basis]
    texts = [f"{result.risk_wording}"]
    texts += [factor.text for factor in getattr(result, "top_factors", [])[:3]]
    texts += list(notes)
    body["note"] = [{"text": text} for text in texts if text]
    return checked(body)


def _band(spec: DiseaseSpec, name: str) -> dict[str, Any]:
    band = next((b for b in spec.risk_bands if b.name == name), None)
    title = band.wording if band is not None else name
    coding = [{"system": RISK_PROBABILITY, "code": name}] if name in QUALITATIVE else []
    return {"coding": coding, "text": title} if coding else {"text": title}


def _predictions(spec: DiseaseSpec, result: Any) -> list[dict[str, Any]]:
    classes = getattr(result, "class_probabilities", None) or {}
    if classes:
        answers = []
        for target in spec.dataset.target.classes:
            chance = classes.get(target.label)
            if chance is None:
                continue
            answers.append(
                {
                    "outcome": {"text": target.label},
                    "probabilityDecimal": round(float(chance), 6),
                    "qualitativeRisk": _band(spec, target.band),
                }
            )
        return answers
    return [
        {
            "outcome": {"text": spec.positive_label},
            "probabilityDecimal": round(float(result.probability), 6),
            "qualitativeRisk": _band(spec, result.risk_band),
        }
    ]


def checked(body: dict[str, Any]) -> dict[str, Any]:
    """The resource as fhir.resources validates and serialises it (R4)."""
    from fhir.resources.R4B.riskassessment import RiskAssessment

    resource = RiskAssessment.model_validate(body)
    return dict(resource.model_dump(mode="json", exclude_none=True))


def bundle(resources: list[dict[str, Any]], when: datetime) -> dict[str, Any]:
    """Several RiskAssessments as one collection Bundle, validated."""
    from fhir.resources.R4B.bundle import Bundle

    body = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": isoformat(when),
        "entry": [{"resource": resource} for resource in resources],
    }
    return dict(Bundle.model_validate(body).model_dump(mode="json", exclude_none=True))
