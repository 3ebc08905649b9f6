"""Real-world accuracy per week from recorded outcomes."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from medfed.server.services.outcomes import accuracy_by_week, week_of


def test_weeks_start_on_monday_and_count_hits() -> None:
    pairs = [
        (date(2026, 11, 18), 0.9, 1),  # Wednesday: hit
        (date(2026, 11, 22), 0.8, 0),  # Sunday, same week: miss
        (date(2026, 11, 23), 0.2, 0),  # next Monday: hit
    ]
    periods = accuracy_by_week(pairs)
    assert [p.start for p in periods] == [date(2026, 11, 16), date(2026, 11, 23)]
    assert [(p.predictions, p.correct) for p in periods] == [(2, 1), (1, 1)]
    assert periods[0].accuracy == 0.5


@given(
    st.lists(
        st.tuples(
            st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
            st.floats(0, 1),
            st.integers(0, 1),
        ),
        max_size=60,
    )
)
def test_every_outcome_is_counted_once(pairs: list[tuple[date, float, int]]) -> None:
    periods = accuracy_by_week(pairs)
    assert sum(p.predictions for p in periods) == len(pairs)
    assert all(0 <= p.accuracy <= 1 and week_of(p.start) == p.start for p in periods)
