"""Doctor pages: the marketplace, a model's page, the prediction form and its explained result."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.coercion import Value
from medfed.core.errors import InvalidInput
from medfed.ml.directions import learned_directions
from medfed.server.deps import DbSession
from medfed.server.services import ab, marketplace, outcomes, predictions, registry
from medfed.server.services.predictions import PredictionResult
from medfed.server.web import charts
from medfed.server.web.forms import check_fields, fields_for, missing_required
from medfed.server.web.render import render
from medfed.server.web.session import CsrfChecked, WebClinician, WebUser

router = APIRouter(include_in_schema=False)
MAX_PATIENT_CSV_BYTES = 64 * 1024


@router.get("/models", response_class=HTMLResponse)
def marketplace_page(request: Request, user: WebUser, db: DbSession, q: str = "") -> Response:
    cards = [card for card in marketplace.listing(db) if marketplace.matches(card, q)]
    return render(request, "doctor/marketplace.html", user=user, cards=cards, query=q[:100])


@router.get("/models/{disease}", response_class=HTMLResponse)
def model_page(request: Request, disease: str, user: WebUser, db: DbSession) -> Response:
    spec = get_disease(disease)
    history = registry.versions(db, disease)
    active = marketplace.active_or_none(db, disease)
    oldest_first = sorted(history, key=lambda v: registry.parse_version(v.version))
    version_svg = charts.version_chart(
        [v.version for v in oldest_first],
        {
            "accuracy": [v.metrics.get("accuracy") for v in oldest_first],
            "ROC AUC": [v.metrics.get("roc_auc") for v in oldest_first],
        },
    )
    periods = outcomes.real_world_accuracy(db, disease)
    outcome_svg = (
        charts.outcome_chart(
            [f"{p.start:%d %b}" for p in periods],
            [p.accuracy for p in periods],
            [p.predictions for p in periods],
        )
        if periods
        else None
    )
    return render(
        request,
        "doctor/model.html",
        user=user,
        spec=spec,
        active=active,
        versions=history,
        version_svg=version_svg,
        periods=periods,
        outcome_svg=outcome_svg,
        challenger=ab.get_challenger(db, disease),
        arms=ab.arm_usage(db, disease),
        line=marketplace.training_line(db, disease, active) if active else None,
        directions=(
            learned_directions(spec, request.app.state.model_cache.get(active)) if active else []
        ),
        labels={feature.name: feature.label for feature in spec.features},
    )


def _form(
    request: Request,
    user: Any,
    spec: DiseaseSpec,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Response:
    return render(
        request,
        "doctor/predict.html",
        status=status,
        user=user,
        spec=spec,
        fields=fields_for(spec, values, errors),
        errors=errors or {},
        problem=problem,
    )


@router.get("/models/{disease}/predict", response_class=HTMLResponse)
def predict_form(request: Request, disease: str, user: WebClinician) -> Response:
    return _form(request, user, get_disease(disease))


def result_page(
    request: Request,
    user: Any,
    db: DbSession,
    spec: DiseaseSpec,
    result: PredictionResult,
    row: dict[str, Value],
) -> Response:
    factors = [(f.label, f.shap) for f in result.top_factors]
    return render(
        request,
        "doctor/result.html",
        user=user,
        spec=spec,
        result=result,
        band=spec.band_named(result.risk_band),
        similar_patients=predictions.similar_patients_note(db, spec, result),
        factor_svg=charts.factor_chart(factors) if factors else None,
        factor_caption=charts.FACTOR_CAPTION,
        inputs_json=json.dumps(row),
    )


@router.post("/models/{disease}/predict", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def predict_submit(
    request: Request, disease: str, user: WebClinician, db: DbSession
) -> Response:
    spec = get_disease(disease)
    form = await request.form()
    values = {f.name: str(form.get(f.name, ""))[:100] for f in spec.features}
    checked = check_fields(fields_for(spec), values)
    row = checked.patients.get(spec.id, {})
    errors = dict(checked.errors)
    for feature in missing_required(spec, row):
        errors.setdefault(feature.name, f"Required: enter {feature.describe_accepted()}.")
    if errors:
        return _form(request, user, spec, values, errors, status=422)
    result = predictions.predict(
        db,
        request.app.state.model_cache,
        user,
        spec.id,
        dict(row),
        store_inputs=form.get("store_inputs") == "yes",
    )
    return result_page(request, user, db, spec, result, row)


@router.post(
    "/models/{disease}/predict-file", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
async def predict_file(
    request: Request, disease: str, user: WebClinician, db: DbSession
) -> Response:
    """One patient from a CSV file (header row + one row), e.g. exported from the hospital's EHR."""
    spec = get_disease(disease)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _form(request, user, spec, status=422, problem="Choose a CSV file to upload.")
    blob = await upload.read(MAX_PATIENT_CSV_BYTES + 1)
    try:
        if len(blob) > MAX_PATIENT_CSV_BYTES:
            raise InvalidInput("The file is larger than 64 KiB; one patient's CSV is far smaller.")
        text = blob.decode("utf-8-sig", errors="strict") if b"\x00" not in blob else ""
        if not text:
            raise InvalidInput("The file is not a CSV text file.")
        rows = predictions.parse_patient_csv(spec, text)
        if len(rows) != 1:
            raise InvalidInput(
                f"The file has {len(rows)} patients; this upload takes one. "
                "Use the batch API (POST /api/v1/models/{disease}/predict-batch) for more."
            )
    except (InvalidInput, UnicodeDecodeError) as problem:
        message = (
            problem.message if isinstance(problem, InvalidInput) else "The file is not UTF-8 text."
        )
        return _form(request, user, spec, status=422, problem=message)
    row = rows[0]
    result = predictions.predict(
        db, request.app.state.model_cache, user, spec.id, dict(row), store_inputs=False
    )
    return result_page(request, user, db, spec, result, row)
