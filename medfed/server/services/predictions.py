"""Explained predictions for doctors: validate the patient, predict, explain, record metadata."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.catalog import DiseaseSpec, get_disease
from medfed.core.clock import utcnow
from medfed.core.coercion import Value, match_columns, normalise_name, validate_patient
from medfed.core.errors import InvalidInput, NotFound
from medfed.ml.model import DiseaseModel
from medfed.ml.narrate import similar_patients
from medfed.ml.predict import Factor, confidence_level, score
from medfed.server.db.base import Base
from medfed.server.db.group_commit import BatchWriter
from medfed.server.db.tables import Prediction, User
from medfed.server.services import ab, audit, registry
from medfed.server.services.registry import ModelCache, Served

TOP_FACTORS = 5
MAX_BATCH_ROWS = 1000


@dataclass(frozen=True)
class PredictionResult:
    disease: str
    model_version: str
    probability: float
    risk_band: str
    risk_wording: str
    predicted_label: str
    confidence: float
    confidence_level: str
    base_value: float
    logit: float
    method: str
    contributions: list[Factor]
    top_factors: list[Factor]
    imputed: list[str]
    prediction_id: int | None = None
    arm: str = "active"
    warnings: list[str] = field(default_factory=list)
    # Categorical outcomes: each class's probability, and its logit's SHAP values in spec order.
    class_probabilities: dict[str, float] = field(default_factory=dict)
    class_contributions: dict[str, list[float]] = field(default_factory=dict)


def explain_row(
    spec: DiseaseSpec,
    model: DiseaseModel,
    version_label: str,
    row: dict[str, Value],
    *,
    with_explanation: bool = True,
) -> PredictionResult:
    scored = score(spec, model, row, explained=with_explanation)
    warnings = []
    if scored.imputed:
        labels = [feature.label for feature in spec.features if feature.name in scored.imputed]
        warnings.append(
            "Not given, so the model assumed a typical value (the training data's median or "
            f"most common answer): {', '.join(labels)}."
        )
    per_class = {
        label: [round(float(c), 6) for c in explanation.contributions]
        for label, explanation in zip(spec.class_labels, scored.per_class, strict=False)
    }
    return PredictionResult(
        disease=spec.id,
        model_version=version_label,
        probability=round(scored.probability, 6),
        risk_band=scored.band.name,
        risk_wording=scored.band.wording,
        predicted_label=spec.class_labels[scored.predicted],
        confidence=round(scored.confidence, 6),
        confidence_level=confidence_level(scored.confidence),
        base_value=round(scored.explanation.base_value, 6),
        logit=round(scored.explanation.logit, 6),
        method=scored.explanation.method,
        contributions=scored.factors,
        top_factors=scored.top(TOP_FACTORS) if with_explanation else [],
        imputed=scored.imputed,
        warnings=warnings,
        class_probabilities=dict(
            zip(spec.class_labels, (round(p, 6) for p in scored.class_probabilities), strict=True)
        )
        if spec.categorical
        else {},
        class_contributions=per_class,
    )


@dataclass(frozen=True)
class PredictionRecord:
    """What is written for one prediction: its row and, beside it, its audit event."""

    user_id: int
    username: str
    disease: str
    model_version_id: int
    model_version: str
    probability: float
    risk_band: str
    arm: str
    inputs: dict[str, Value] | None


class Doctor(Protocol):
    """Who a prediction is for: an account (`User`) or a bearer token's `auth.Caller`."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...


def compute(
    connection: Connection,
    cache: ModelCache,
    user: Doctor,
    disease: str,
    patient: dict[str, Any],
    *,
    store_inputs: bool,
    with_explanation: bool = True,
) -> tuple[PredictionResult, PredictionRecord]:
    """The explained result and what to record about it; reads only."""
    spec = get_disease(disease)
    row = validate_patient(spec, patient)
    version, arm = ab.serving_version(connection, spec.id, user.id)
    return explained(
        cache,
        user,
        spec,
        row,
        version,
        arm,
        store_inputs=store_inputs,
        with_explanation=with_explanation,
    )


def explained(
    cache: ModelCache,
    user: Doctor,
    spec: DiseaseSpec,
    row: dict[str, Value],
    version: Served,
    arm: str,
    *,
    store_inputs: bool,
    with_explanation: bool = True,
) -> tuple[PredictionResult, PredictionRecord]:
    """`compute` once the serving version is known: no database, CPU only."""
    result = explain_row(
        spec, cache.get(version), version.version, row, with_explanation=with_explanation
    )
    return result, _record_of(user, version, arm, result, row if store_inputs else None)


def predict(
    session: Session,
    cache: ModelCache,
    user: User,
    disease: str,
    patient: dict[str, Any],
    *,
    store_inputs: bool,
    with_explanation: bool = True,
) -> PredictionResult:
    """Compute and record in the caller's transaction."""
    result, record = compute(
        session.connection(),
        cache,
        user,
        disease,
        patient,
        store_inputs=store_inputs,
        with_explanation=with_explanation,
    )
    (prediction_id,) = write_records(session, [record])
    return with_id(result, prediction_id, record.arm)


def _record_of(
    user: Doctor,
    version: Served,
    arm: str,
    result: PredictionResult,
    inputs: dict[str, Value] | None,
) -> PredictionRecord:
    return PredictionRecord(
        user_id=user.id,
        username=user.username,
        disease=result.disease,
        model_version_id=version.id,
        model_version=result.model_version,
        probability=result.probability,
        risk_band=result.risk_band,
        arm=arm,
        inputs=inputs,
    )


def write_records(session: Session, records: Sequence[PredictionRecord]) -> list[int]:
    """Insert the predictions and their audit events (one statement each); their ids."""
    table = Base.metadata.tables["predictions"]  # Core: no ORM work per row
    ids = list(
        session.scalars(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [
                {
                    "user_id": r.user_id,
                    "disease": r.disease,
                    "model_version_id": r.model_version_id,
                    "probability": r.probability,
                    "risk_band": r.risk_band,
                    "inputs": r.inputs,
                    "arm": r.arm,
                    "created_at": utcnow(),
                }
                for r in records
            ],
        )
    )
    audit.append(
        session,
        [
            audit.Entry(
                actor=audit.user_actor(r.username),
                action=AuditAction.PREDICTION,
                object=f"model:{r.disease}:{r.model_version}",
                details={
                    "prediction_id": prediction_id,
                    "risk_band": r.risk_band,
                    "inputs_stored": r.inputs is not None,
                    "arm": r.arm,
                },
            )
            for r, prediction_id in zip(records, ids, strict=True)
        ],
    )
    return ids


# Predictions answered by the API are written by the group-commit thread (db/group_commit.py).
RECORDS: BatchWriter[PredictionRecord, int] = BatchWriter("predictions", write_records)


def with_id(result: PredictionResult, prediction_id: int, arm: str) -> PredictionResult:
    return PredictionResult(**{**result.__dict__, "prediction_id": prediction_id, "arm": arm})


def predict_batch(
    session: Session, cache: ModelCache, user: User, disease: str, text: str, *, store_inputs: bool
) -> list[PredictionResult]:
    """One prediction per CSV row; any bad cell rejects the batch, naming row and column."""
    spec = get_disease(disease)
    rows = parse_patient_csv(spec, text)
    version, arm = ab.serving_version(session.connection(), spec.id, user.id)
    model = cache.get(version)
    results = [explain_row(spec, model, version.version, row) for row in rows]
    records = [
        _record_of(user, version, arm, result, row if store_inputs else None)
        for result, row in zip(results, rows, strict=True)
    ]
    ids = write_records(session, records)
    return [with_id(r, prediction_id, arm) for r, prediction_id in zip(results, ids, strict=True)]


def owned_prediction(session: Session, user: User, prediction_id: int) -> Prediction:
    prediction = session.get(Prediction, prediction_id)
    if prediction is None or (prediction.user_id != user.id and user.role != "admin"):
        raise NotFound(f"You have no prediction {prediction_id}.", field="prediction_id")
    return prediction


def recompute(
    session: Session, cache: ModelCache, user: User, prediction_id: int, patient: dict[str, Any]
) -> tuple[Prediction, PredictionResult]:
    """The explained result of an earlier prediction from its inputs, with the same version.

    The server keeps inputs only on opt-in, so a report is rebuilt from the inputs the page
    sends back; they must reproduce the recorded probability, so a report cannot put one
    prediction's number beside another patient's values."""
    prediction = owned_prediction(session, user, prediction_id)
    spec = get_disease(prediction.disease)
    row = validate_patient(spec, patient)
    version = prediction.model_version
    result = explain_row(spec, cache.get(version), version.version, row)
    if abs(result.probability - prediction.probability) > 1e-6:
        raise InvalidInput(
            f"These inputs do not reproduce prediction {prediction_id}; "
            "make a new prediction for this patient instead.",
            field="inputs",
        )
    return prediction, with_id(result, prediction.id, prediction.arm)


def record_outcome(session: Session, user: User, prediction_id: int, outcome: int) -> Prediction:
    """The confirmed diagnosis for an earlier prediction, entered by the doctor who made it."""
    prediction = owned_prediction(session, user, prediction_id)
    spec = get_disease(prediction.disease)
    if spec.categorical and not 0 <= outcome < spec.outputs:
        choices = ", ".join(f"{i} ({label})" for i, label in enumerate(spec.class_labels))
        raise InvalidInput(
            f"The outcome is the patient's actual class: {choices}.", field="outcome"
        )
    if not spec.categorical and outcome not in (0, 1):
        raise InvalidInput(
            "The outcome is 1 (disease confirmed) or 0 (ruled out).", field="outcome"
        )
    prediction.outcome = outcome
    prediction.outcome_recorded_at = utcnow()
    audit.record(
        session,
        actor=audit.user_actor(user.username),
        action=AuditAction.OUTCOME_RECORDED,
        object=f"prediction:{prediction.id}",
        details={"disease": prediction.disease},
    )
    return prediction


def history(session: Session, user: User, limit: int = 200) -> list[Prediction]:
    query = select(Prediction).where(Prediction.user_id == user.id)
    return list(session.scalars(query.order_by(Prediction.id.desc()).limit(limit)))


def _checked(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a row the csv module cannot parse (a bare carriage return inside a
    row, an unclosed quote at a line end) is bad input naming its line, never a server error."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as problem:
            raise InvalidInput(
                f"Line {reader.line_num} of the CSV cannot be read ({problem}); save the file "
                "again as plain CSV, one patient per line.",
                field="file",
            ) from None


def parse_patient_csv(spec: DiseaseSpec, text: str) -> list[dict[str, Value]]:
    if not text.strip():
        raise InvalidInput(
            "The CSV is empty: send a header row and one row per patient.", field="file"
        )
    dialect = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
    reader = _checked(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=dialect))
    header = next(reader)
    match = match_columns(spec, header)
    if match.missing_required:
        names = ", ".join(spec.feature(name).label for name in match.missing_required)
        raise InvalidInput(f"The CSV has no column for: {names}.", field="file")
    ignored = [c for c in match.unmatched if normalise_name(c) not in {"id", "patientreference"}]
    if ignored:
        raise InvalidInput(
            f"The CSV column {ignored[0]!r} is not a {spec.title.lower()} input; remove it.",
            field="file",
        )
    rows: list[dict[str, Value]] = []
    for line_number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_BATCH_ROWS:
            raise InvalidInput(f"At most {MAX_BATCH_ROWS} patients per batch.", field="file")
        if len(cells) != len(header):
            raise InvalidInput(
                f"Row {line_number} has {len(cells)} cells but the header has {len(header)}.",
                field="file",
            )
        patient = {name: cells[index] for name, index in match.feature_columns.items()}
        try:
            rows.append(validate_patient(spec, patient))
        except InvalidInput as problem:
            column = header[match.feature_columns[(problem.field or "").removeprefix("patient.")]]
            raise InvalidInput(
                f"Row {line_number}, column {column!r}: {problem.message}", field="file"
            ) from None
    if not rows:
        raise InvalidInput("The CSV has a header but no patient rows.", field="file")
    return rows


def similar_patients_note(session: Session, spec: DiseaseSpec, result: PredictionResult) -> str:
    """How often held-out patients with a similar estimate had the disease (the version's card)."""
    card = registry.find_version(session, spec.id, result.model_version).card or {}
    if spec.categorical:
        return similar_patients(
            card.get("calibration"), result.probability, spec.condition, pooled_classes=True
        )
    return similar_patients(card.get("calibration"), result.probability, spec.condition)
