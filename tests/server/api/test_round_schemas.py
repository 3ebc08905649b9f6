"""What a node may report of its evaluation: the paired sums must cover its validation rows,
and a hospital too small to keep any back reports zero rows instead of being refused forever."""

from __future__ import annotations

import pytest

from medfed.core.errors import InvalidInput
from medfed.server.api.round_schemas import EvaluationIn


def _report(rows: int, n: int) -> EvaluationIn:
    sums = {"n": n, "total": 0.0, "squares": 0.0}
    return EvaluationIn.model_validate(
        {
            "rows": rows,
            "base": {"accuracy": None},
            "candidate": {"accuracy": None},
            "paired": {"accuracy": sums, "brier": sums},
        }
    )


def test_a_hospital_with_no_validation_rows_reports_zero() -> None:
    sums = _report(0, 0).paired_sums()
    assert sums is not None and all(s.n == 0 for s in sums.values())


def test_paired_sums_must_cover_the_reported_rows() -> None:
    with pytest.raises(InvalidInput, match="must equal rows"):
        _report(0, 3).paired_sums()
    with pytest.raises(InvalidInput, match="must equal rows"):
        _report(1, 0).paired_sums()
