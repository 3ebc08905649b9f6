"""Doctor pages after a prediction: the PDF report, history with outcomes, multi-disease check."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from medfed.core.catalog import get_disease, load_catalog
from medfed.core.clock import utcnow
from medfed.core.errors import InvalidInput
from medfed.server.bounds import IdPath
from medfed.server.deps import DbSession
from medfed.server.services import predictions, reports
from medfed.server.web import charts
from medfed.server.web.doctor import result_page
from medfed.server.web.forms import (
    FormField,
    check_fields,
    group_fields,
    missing_required,
    union_fields,
)
from medfed.server.web.render import render, see_other
from medfed.server.web.session import CsrfChecked, WebClinician

router = APIRouter(include_in_schema=False)


@router.post("/predictions/{prediction_id}/report", dependencies=[CsrfChecked])
async def report(
    request: Request, prediction_id: IdPath, user: WebClinician, db: DbSession
) -> Response:
    form = await request.form()
    reference = re.sub(r"[\x00-\x1f]", "", str(form.get("patient_reference", "")))[:80].strip()
    try:
        inputs = json.loads(str(form.get("inputs", "")))
        if not isinstance(inputs, dict):
            raise ValueError
    except ValueError:
        raise InvalidInput(
            "The report form lost the patient's inputs; go back and predict again.", field="inputs"
        ) from None
    prediction, result = predictions.recompute(
        db, request.app.state.model_cache, user, prediction_id, inputs
    )
    spec = get_disease(prediction.disease)
    pdf = reports.render_pdf(
        reports.ReportRequest(
            spec=spec,
            result=result,
            similar_patients=predictions.similar_patients_note(db, spec, result),
            patient_reference=reference,
            clinician=user.display_name,
            created_at=prediction.created_at,
        )
    )
    filename = f"medfed-{prediction.disease}-prediction-{prediction.id}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",  # patient data: not for shared caches or the disk cache
        },
    )


@router.get("/predictions", response_class=HTMLResponse)
def history(request: Request, user: WebClinician, db: DbSession, notice: str = "") -> Response:
    rows = predictions.history(db, user)
    return render(
        request,
        "doctor/history.html",
        user=user,
        rows=rows,
        specs=load_catalog(),
        notice=notice[:200],
    )


@router.get("/predictions/{prediction_id}", response_class=HTMLResponse)
def prediction_page(
    request: Request, prediction_id: IdPath, user: WebClinician, db: DbSession
) -> Response:
    """One earlier prediction: explained again when its inputs were kept, else what was recorded.

    The result page moves the address bar here, so reloading it shows the result again instead
    of sending the form (and recording a prediction) twice."""
    prediction = predictions.owned_prediction(db, user, prediction_id)
    spec = get_disease(prediction.disease)
    if prediction.inputs:
        _, result = predictions.recompute(
            db, request.app.state.model_cache, user, prediction_id, prediction.inputs
        )
        return result_page(request, user, db, spec, result, prediction.inputs)
    return render(
        request,
        "doctor/prediction.html",
        user=user,
        spec=spec,
        prediction=prediction,
        band=spec.band_named(prediction.risk_band),
    )


@router.post("/predictions/{prediction_id}/outcome", dependencies=[CsrfChecked])
async def outcome(
    request: Request, prediction_id: IdPath, user: WebClinician, db: DbSession
) -> Response:
    form = await request.form()
    choice = str(form.get("outcome", ""))
    if not choice.isdigit() or len(choice) > 2:
        raise InvalidInput("Choose the confirmed outcome before saving.", field="outcome")
    predictions.record_outcome(db, user, prediction_id, int(choice))
    return see_other("/predictions", f"Outcome saved for prediction #{prediction_id}.")


def _check_page(
    request: Request, user: Any, fields: list[FormField], status: int = 200, **context: Any
) -> Response:
    specs = list(load_catalog().values())
    needed = {spec.id: sum(1 for f in fields if spec.id in f.required_for) for spec in specs}
    filled = {
        spec.id: sum(1 for f in fields if spec.id in f.required_for and f.value.strip())
        for spec in specs
    }
    return render(
        request,
        "doctor/check.html",
        status=status,
        user=user,
        specs=specs,
        titles={spec.id: spec.title for spec in specs},
        labels={f.name: f.feature.label for f in fields},
        groups=group_fields(fields, specs),
        needed=needed,
        filled=filled,
        **context,
    )


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request, user: WebClinician) -> Response:
    return _check_page(request, user, union_fields(load_catalog().values()), results=[])


@router.post("/check", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def check_submit(request: Request, user: WebClinician, db: DbSession) -> Response:
    """One form, every model whose required inputs are filled gives its prediction."""
    specs = list(load_catalog().values())
    form = await request.form()
    names = [f.name for f in union_fields(specs)]
    values = {name: str(form.get(name, ""))[:100] for name in names}
    checked = check_fields(union_fields(specs), values)
    if checked.errors:
        fields = union_fields(specs, values, checked.errors)
        return _check_page(request, user, fields, results=[], errors=checked.errors, status=422)
    results, skipped = [], []
    for spec in specs:
        patient = checked.patients.get(spec.id, {})
        missing = missing_required(spec, patient)
        if not checked.filled.get(spec.id) or missing:
            skipped.append((spec, missing))
            continue
        result = predictions.predict(
            db, request.app.state.model_cache, user, spec.id, dict(patient), store_inputs=False
        )
        factors = [(f.label, f.shap) for f in result.top_factors]
        chart = charts.factor_chart(factors, f"{spec.title}: key factors")
        results.append((spec, result, spec.band_named(result.risk_band), chart))
    return _check_page(
        request,
        user,
        union_fields(specs, values),
        results=results,
        skipped=skipped,
        checked_at=utcnow(),
    )
