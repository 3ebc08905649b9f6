"""The model marketplace and explained predictions."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.clock import utcnow
from medfed.core.coercion import validate_patient
from medfed.core.errors import InvalidInput
from medfed.fhir import patients as fhir_patients
from medfed.fhir import risk
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
    ModelUser,
    Reading,
    ReadingClinician,
    ScienceUser,
)
from medfed.server.services import ab, audit, exports, marketplace, predictions, registry
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


@router.get(
    "/{disease}/versions/{version}/onnx",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_onnx(
    disease: str, version: str, user: ModelUser, db: DbSession, request: Request
) -> Response:
    """The version as an ONNX file: raw feature values (spec order; categories as code
    indexes; NaN when missing) in, the probability out; the public model card as metadata."""
    blob = exports.onnx_file(db, request.app.state.model_cache, user, disease, version)
    name = f"medfed-{disease}-{version}.onnx"
    return Response(
        blob,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
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


FHIR_JSON = "application/fhir+json"
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictIn.model_json_schema()},
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "description": "A FHIR R4 Bundle (Patient and LOINC-coded Observation "
                    "resources, or QuestionnaireResponse) of one or more patients.",
                }
            },
        },
    },
    "responses": {
        "200": {
            "content": {
                FHIR_JSON: {
                    "schema": {
                        "type": "object",
                        "description": "A RiskAssessment (JSON input with Accept: "
                        "application/fhir+json) or a Bundle of them (FHIR input).",
                    }
                }
            }
        }
    },
}


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES * 4:
        raise InvalidInput("The request body is larger than 4 MiB.", field="body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"The request body is not valid JSON: {error}.", field="body") from None


@router.post("/{disease}/predict", response_model=PredictionPublic, openapi_extra=PREDICT_BODY)
async def predict(
    disease: str,
    user: ReadingClinician,
    reader: Reading,
    writer: GroupCommitDep,
    request: Request,
) -> PredictionPublic | Response:
    """Validated, predicted (and explained) on a read-only session; the prediction row and its
    audit event are committed, with other requests' in one transaction, before the answer.

    The body is MedFed's JSON (`{"patient": {...}}`) or a FHIR R4 Bundle of one or more
    patients; a FHIR body is answered with a Bundle of RiskAssessments, and JSON with one
    RiskAssessment when the request accepts `application/fhir+json`."""
    turns = request.app.state.prediction_turns
    await turns.take()  # a few per pass of the event loop (server/turns.py)
    spec = get_disease(disease)
    body = await _json_body(request)
    if isinstance(body, dict) and "resourceType" in body:
        return await _predict_fhir(spec, body, user, reader, writer, request)
    try:
        asked = PredictIn.model_validate(body)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    row = validate_patient(spec, asked.patient)
    version, arm = await reader.lookup(lambda db: ab.serving_version(db, spec.id, user.id))
    result, record = predictions.explained(
        request.app.state.model_cache,
        user,
        spec,
        row,
        version,
        arm,
        store_inputs=asked.store_inputs,
        with_explanation=asked.explain,
    )
    prediction_id = await asyncio.wrap_future(writer.submit(predictions.RECORDS, record))
    await turns.take()  # building the answer is work too
    answered = predictions.with_id(result, prediction_id, record.arm)
    if FHIR_JSON in request.headers.get("accept", ""):
        resource = risk.risk_assessment(spec, answered, subject=None, basis=[], when=utcnow())
        return Response(json.dumps(resource), media_type=FHIR_JSON)
    return _public(answered)


async def _predict_fhir(
    spec: DiseaseSpec,
    body: dict[str, Any],
    user: Any,
    reader: Any,
    writer: Any,
    request: Request,
) -> Response:
    """Every patient of the bundle scored by the served model, each prediction recorded."""
    found = fhir_patients.patients(spec, body, utcnow().date())
    rows = []
    for patient in found:
        try:
            rows.append(validate_patient(spec, patient.values))
        except InvalidInput as problem:
            raise InvalidInput(
                f"{patient.reference}: {problem.message}", field=problem.field
            ) from None
    version, arm = await reader.lookup(lambda db: ab.serving_version(db, spec.id, user.id))
    resources = []
    for patient, row in zip(found, rows, strict=True):
        result, record = predictions.explained(
            request.app.state.model_cache, user, spec, row, version, arm, store_inputs=False
        )
        await asyncio.wrap_future(writer.submit(predictions.RECORDS, record))
        resources.append(
            risk.risk_assessment(
                spec,
                result,
                subject=patient.reference,
                basis=patient.basis,
                when=utcnow(),
                notes=[*patient.conversions, *patient.unused],
            )
        )
        await request.app.state.prediction_turns.take()
    return Response(json.dumps(risk.bundle(resources, utcnow())), media_type=FHIR_JSON)


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
