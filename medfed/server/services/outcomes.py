"""Real-world accuracy: predictions whose confirmed diagnosis a doctor later recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    weeks: dict[date, list[int]] = {}
    for day, probability, outcome in pairs:
        tally = weeks.setdefault(week_of(day), [0, 0])
        tally[0] += 1
        tally[1] += int((probability >= 0.5) == bool(outcome))
    return [Period(start, n, correct) for start, (n, correct) in sorted(weeks.items())]


def real_world_accuracy(session: Session, disease: str) -> list[Period]:
    rows = session.execute(
        select(Prediction.created_at, Prediction.probability, Prediction.outcome).where(
            Prediction.disease == disease, Prediction.outcome.is_not(None)
        )
    )
    return accuracy_by_week([(at.date(), p, int(o or 0)) for at, p, o in rows])
