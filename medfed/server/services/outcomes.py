"""Real-world accuracy: predictions whose confirmed diagnosis a doctor later recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.catalog import get_disease
from medfed.server.db.tables import Prediction


@dataclass(frozen=True)
class Period:
    start: date
    predictions: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.predictions


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def accuracy_by_week(pairs: list[tuple[date, float, int]]) -> list[Period]:
    """(prediction day, probability, outcome) triples → accuracy per ISO week, oldest first."""
    return right_by_week([(day, (p >= 0.5) == bool(outcome)) for day, p, outcome in pairs])


def right_by_week(answers: list[tuple[date, bool]]) -> list[Period]:
    """(prediction day, was it right) pairs → accuracy per ISO week, oldest first."""
    weeks: dict[date, list[int]] = {}
    for day, right in answers:
        tally = weeks.setdefault(week_of(day), [0, 0])
        tally[0] += 1
        tally[1] += int(right)
    return [Period(start, n, correct) for start, (n, correct) in sorted(weeks.items())]


def real_world_accuracy(session: Session, disease: str) -> list[Period]:
    rows = session.execute(
        select(
            Prediction.created_at, Prediction.probability, Prediction.risk_band, Prediction.outcome
        ).where(Prediction.disease == disease, Prediction.outcome.is_not(None))
    ).all()
    spec = get_disease(disease)
    if spec.categorical:  # right when the stored band is the class the doctor confirmed
        order: list[str] = [band.name for band in spec.bands]
        return right_by_week(
            [(at.date(), order.index(band) == outcome) for at, _, band, outcome in rows]
        )
    return accuracy_by_week([(at.date(), p, int(o or 0)) for at, p, _, o in rows])
