"""A campaign's rounds take their privacy from the campaign's budget, never a round's own."""

from __future__ import annotations

import pytest

from medfed.core.errors import InvalidInput
from medfed.server.api.campaign_schemas import CampaignStartIn


def _config(**body: object) -> dict[str, object]:
    start = CampaignStartIn.model_validate({"disease": "heart", **body})
    return start.round_config().as_dict()


def test_the_budget_sets_the_rounds_epsilon() -> None:
    plain = _config(epsilon_budget=None)
    assert plain["target_epsilon"] is None and plain["learning_rate"] is None  # nodes' default
    assert _config(epsilon_budget=3.0)["target_epsilon"] == 3.0
    chosen = _config(epsilon_budget=3.0, round={"learning_rate": 0.07})
    assert chosen["learning_rate"] == 0.07


def test_a_rounds_own_epsilon_is_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidInput) as refused:
        _config(epsilon_budget=3.0, round={"target_epsilon": 1.0})
    assert refused.value.field == "round.target_epsilon"
