"""`medfed node policy set`: the hospital's analytics policy beside its training policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfed.node.policy import load_policy
from tests.utils.processes import medfed_env, run_medfed


@pytest.mark.own_database
def test_the_analytics_policy_is_set_apart_and_bad_values_are_refused(tmp_path: Path) -> None:
    env = medfed_env(tmp_path / "home", f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "node")
    common = ["node", "policy", "set"]
    done = run_medfed(
        [*common, "--analytics-kinds", "count,prevalence", "--analytics-epsilon-cap", "2",
         "--analytics-min-cell", "20", "--no-analytics-per-site", "--epsilon-cap", "4"],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    unknown = run_medfed([*common, "--analytics-kinds", "counts"], env)
    assert unknown.returncode == 1 and "Unknown analytics kind(s) counts" in unknown.stderr
    lower = run_medfed([*common, "--analytics-min-cell", "5"], env)
    assert lower.returncode == 2 and "greater than or equal to 10" in lower.stderr
    policy = load_policy(tmp_path / "node")  # the refused changes left it as it was
    assert policy.analytics_kinds == ["count", "prevalence"] and policy.analytics_min_cell == 20
    assert policy.analytics_epsilon_cap == 2.0 and policy.epsilon_cap == 4.0
    assert policy.analytics_per_site is False
    widened = run_medfed([*common, "--analytics-kinds", "all"], env)
    assert widened.returncode == 0 and load_policy(tmp_path / "node").analytics_kinds is None
