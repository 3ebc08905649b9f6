"""The model marketplace and explained predictions."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from medfed.core.catalog import get_disease
from medfed.core.coercion import validate_patient
from medfed.core.errors import InvalidInput
from medfed.ml.predict import Factor
from medfed.server.api.model_schemas import (
    ActivateIn,
    BatchPredictionPublic,
    CategoryPublic,
    ExplanationPublic,
    FactorPublic,
    FeaturePublic,
    ModelDetailPublic,
    ModelSummaryPublic,
    PredictIn,
    PredictionPublic,
    VersionPublic,
)
from medfed.server.db.tables import ModelVersion
from medfed.server.deps import (
    Clinician,
    CurrentUser,
    DbSession,
    GroupCommitDep,
    Reading,
    ReadingClinician,
    ScienceUser,
)
from medfed.server.services import ab, audit, marketplace, predictions, registry
from medfed.server.services.predictions import PredictionResult

router = APIRouter(prefix="/models", tags=["models"])
MAX_CSV_BYTES = 1024 * 1024


def _version_public(version: ModelVersion) -> VersionPublic:
    return VersionPublic(
        version=version.version,
        is_active=version.is_active,
        status=version.status,
        state=version.state,
        architecture=version.architecture,
        metrics=version.metrics,
        provenance=version.provenance,
        contributing_hospitals=version.contributing_hospitals,
        created_at=version.created_at,
    )


@router.get("", response_model=list[ModelSummaryPublic])
def list_models(_: CurrentUser, db: DbSession) -> list[ModelSummaryPublic]:
    return [ModelSummaryPublic.model_validate(card) for card in marketplace.listing(db)]


@router.get("/{disease}", response_model=ModelDetailPublic)
def model_detail(disease: str, _: CurrentUser, db: DbSession) -> ModelDetailPublic:
    spec = get_disease(disease)
    active = marketplace.active_or_none(db, disease)
    features = [
        FeaturePublic(
            name=f.name,
            label=f.label,
            type=f.type,
            unit=f.unit,
            range=f.range,
            required=f.required,
            help=f.help,
            categories=[CategoryPublic(code=c.code, label=c.label) for c in f.categories],
        )
        for f in spec.features
    ]
    versions = [_version_public(v) for v in registry.versions(db, disease)]
    return ModelDetailPublic.model_validate(
        {
            **marketplace.summary(spec, active),
            "positive_label": spec.positive_label,
            "negative_label": spec.negative_label,
            "features": features,
            "versions": versions,
            "model_card": active.card if active else None,
        }
    )


def _public(result: PredictionResult) -> PredictionPublic:
    def factor(f: Factor) -> FactorPublic:
        return FactorPublic(
            feature=f.feature,
            label=f.label,
            value=f.value,
            shap=f.shap,
            text=f.text,
            imputed=f.imputed,
        )

    return PredictionPublic(
        prediction_id=result.prediction_id,
        disease=result.disease,
        model_version=result.model_version,
        arm=result.arm,
        probability=result.probability,
        risk_band=result.risk_band,
        risk_wording=result.risk_wording,
        predicted_label=result.predicted_label,
        confidence=result.confidence,
        confidence_level=result.confidence_level,
        imputed=result.imputed,
        warnings=result.warnings,
        explanation=ExplanationPublic(
            method=result.method,
            base_value=result.base_value,
            logit=result.logit,
            contributions=[factor(f) for f in result.contributions],
            top_factors=[factor(f) for f in result.top_factors],
            per_class=result.class_contributions or None,
        )
        if result.method
        else None,
        class_probabilities=result.class_probabilities or None,
    )


@router.post("/{disease}/active", response_model=VersionPublic)
def set_active_version(
    disease: str, body: ActivateIn, admin: ScienceUser, db: DbSession
) -> VersionPublic:
    """Roll back (or forward) to any deployed version; the reason is audited."""
    version = registry.activate(
        db, disease, body.version, reason=body.reason, actor=audit.user_actor(admin.username)
    )
    return _version_public(version)


@router.post("/{disease}/predict", response_model=PredictionPublic)
async def predict(
    disease: str,
    body: PredictIn,
    user: ReadingClinician,
    reader: Reading,
    writer: GroupCommitDep,
    request: Request,
) -> PredictionPublic:
    """Validated, predicted (and explained) on a read-only session; the prediction row and its
    audit event are committed, with other requests' in one transaction, before the answer."""
    turns = request.app.state.prediction_turns
    await turns.take()  # a few per pass of the event loop (server/turns.py)
    spec = get_disease(disease)
    row = validate_patient(spec, body.patient)
    version, arm = await reader.lookup(lambda db: ab.serving_version(db, spec.id, user.id))
    result, record = predictions.explained(
        request.app.state.model_cache,
        user,
        spec,
        row,
        version,
        arm,
        store_inputs=body.store_inputs,
        with_explanation=body.explain,
    )
    prediction_id = await asyncio.wrap_future(writer.submit(predictions.RECORDS, record))
    await turns.take()  # building the answer is work too
    return _public(predictions.with_id(result, prediction_id, record.arm))


async def csv_body(request: Request) -> str:
    """The uploaded CSV as text: a text/csv body or a multipart form field named `file`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("Send the CSV as a form field named 'file'.", field="file")
        blob = await upload.read(MAX_CSV_BYTES + 1)
    else:
        blob = await request.body()
    if len(blob) > MAX_CSV_BYTES:
        raise InvalidInput(f"The CSV is larger than {MAX_CSV_BYTES // 1024} KiB.", field="file")
    if b"\x00" in blob:
        raise InvalidInput("The upload is binary data, not a CSV text file.", field="file")
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError:
        return blob.decode("latin-1")  # every byte is a Latin-1 character


@router.post(
    "/{disease}/predict-batch",
    response_model=BatchPredictionPublic,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def predict_batch(
    disease: str,
    user: Clinician,
    db: DbSession,
    request: Request,
    text: Annotated[str, Depends(csv_body)],
    store_inputs: bool = False,
) -> BatchPredictionPublic:
    """A CSV with a header row (names or aliases) and one row per patient."""
    results = predictions.predict_batch(
        db, request.app.state.model_cache, user, disease, text, store_inputs=store_inputs
    )
    return BatchPredictionPublic(count=len(results), predictions=[_public(r) for r in results])
