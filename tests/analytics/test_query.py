"""A federated-analytics question checked against the spec: what it lays out, and what it refuses
with the reason."""

from __future__ import annotations

import pytest

from medfed.analytics.query import Query, layout
from medfed.core.catalog import get_disease
from medfed.core.errors import InvalidInput

HEART = get_disease("heart")


def _refused(query: Query) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        layout(HEART, query)
    return refused.value


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        (Query("heart", "mean", feature="glucose"), "feature", "no feature 'glucose'"),
        (Query("heart", "mean", feature="sex"), "feature", "needs a number feature"),
        (Query("heart", "count", feature="age"), "feature", "takes no feature"),
        (Query("heart", "mean"), "feature", "needs a feature"),
        (Query("heart", "median"), "kind", "unknown query kind"),
        (Query("heart", "histogram", feature="age"), "bins", "needs bins"),
        (
            Query("heart", "histogram", feature="age", bins=(40, 40, 60)),
            "bins",
            "empty or overlapping",
        ),
        (Query("heart", "histogram", feature="age", bins=(50, 40, 60)), "bins", "rise strictly"),
        (
            Query("heart", "histogram", feature="age", bins=(200, 300)),
            "bins",
            "miss the feature's range",
        ),
        (Query("heart", "histogram", feature="age", bins=(40,)), "bins", "at least two edges"),
        (Query("heart", "count", breakdown="age"), "bands", "at least two edges"),
        (Query("heart", "count", breakdown="sex", bands=(1, 2)), "bands", "bands are for numbers"),
        (
            Query("heart", "mean", feature="age", breakdown="age", bands=(18, 60, 110)),
            "breakdown",
            "by itself",
        ),
        (Query("heart", "count", epsilon=0), "epsilon", "above 0"),
        (Query("heart", "count", epsilon=50), "epsilon", "at most 10"),
        (Query("heart", "count", delta=0.5), "delta", "below 0.001"),
        (Query("heart", "count", mechanism="exponential"), "mechanism", "unknown mechanism"),
        (
            Query("heart", "quantiles", feature="age", quantiles=(0.5, 1.0)),
            "quantiles",
            "strictly between",
        ),
        (Query("diabetes", "count"), "disease", "not heart"),
    ],
)
def test_bad_queries_are_refused_with_the_reason(query: Query, field: str, words: str) -> None:
    refused = _refused(query)
    assert refused.field == field and words in refused.message, refused.message


def test_cells_and_sensitivities_follow_the_spec() -> None:
    by_sex = layout(HEART, Query("heart", "prevalence", breakdown="sex"))
    assert [c.key for c in by_sex.cells] == ["0", "1", "missing"]
    assert by_sex.components == ("rows", "positive") and by_sex.touched == 2
    banded = layout(HEART, Query("heart", "count", breakdown="age", bands=(18, 45, 65, 110)))
    assert [c.key for c in banded.cells] == ["18-45", "45-65", "65-110", "missing"]
    assert banded.cells[0].label == "Age 18 to under 45 years"
    mean = layout(HEART, Query("heart", "mean", feature="cholesterol"))
    assert mean.sensitivity == (1.0, 310.0, 310.0**2) and mean.touched == 3  # 80 to 700 mg/dL
    quantiles = layout(HEART, Query("heart", "quantiles", feature="age"))
    assert len(quantiles.bins) == 21 and quantiles.bins[0] == 18 and quantiles.bins[-1] == 110
    risk = layout(get_disease("comorbidity_risk"), Query("comorbidity_risk", "prevalence"))
    assert risk.components == ("rows", "class:0", "class:1", "class:2") and risk.touched == 2
