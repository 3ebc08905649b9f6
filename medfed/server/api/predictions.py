"""A doctor's own predictions: history, and the confirmed outcome entered later."""

from __future__ import annotations

from fastapi import APIRouter

from medfed.server.api.model_schemas import OutcomeIn, PredictionRecordPublic
from medfed.server.bounds import IdPath
from medfed.server.db.tables import Prediction
from medfed.server.deps import Clinician, DbSession
from medfed.server.services import predictions

router = APIRouter(prefix="/predictions", tags=["predictions"])


def _record_public(prediction: Prediction, version: str) -> PredictionRecordPublic:
    return PredictionRecordPublic(
        id=prediction.id,
        disease=prediction.disease,
        model_version=version,
        arm=prediction.arm,
        probability=prediction.probability,
        risk_band=prediction.risk_band,
        created_at=prediction.created_at,
        inputs=prediction.inputs,
        outcome=prediction.outcome,
    )


@router.get("", response_model=list[PredictionRecordPublic])
def my_predictions(user: Clinician, db: DbSession) -> list[PredictionRecordPublic]:
    """Metadata of your predictions, newest first; inputs only where you opted in."""
    return [_record_public(p, p.model_version.version) for p in predictions.history(db, user)]


@router.post("/{prediction_id}/outcome", response_model=PredictionRecordPublic)
def record_outcome(
    prediction_id: IdPath, body: OutcomeIn, user: Clinician, db: DbSession
) -> PredictionRecordPublic:
    """The confirmed diagnosis; it feeds the model's real-world accuracy per version and arm."""
    prediction = predictions.record_outcome(db, user, prediction_id, body.outcome)
    return _record_public(prediction, prediction.model_version.version)
