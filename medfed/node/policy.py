"""The hospital's own policy at its node. It always wins: the server can only be stricter."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medfed.core.catalog import load_catalog
from medfed.core.errors import ConfigurationError, PermissionDenied
from medfed.core.files import write_private_file

POLICY_FILE = "policy.yaml"


class LocalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diseases: list[str] | None = Field(
        None, description="Diseases this hospital trains; None: all."
    )
    epsilon_cap: float | None = Field(
        None, gt=0, description="This hospital's own cap on total epsilon per disease."
    )
    require_approval: bool = Field(
        False, description="Each round needs a person's approval at the node."
    )
    share_inventory: bool = Field(
        True,
        description="Tell the network how many patients, admissions and diagnoses are "
        "registered here (counts only) and which models this node holds.",
    )

    # Federated analytics: a budget of its own, apart from training's.
    analytics_kinds: list[str] | None = Field(
        None, description="Kinds of analytics query this hospital answers; None: all."
    )
    analytics_epsilon_cap: float = Field(
        5.0, gt=0, description="Total epsilon per disease this hospital spends on analytics."
    )
    analytics_min_cell: int = Field(
        10, ge=10, description="Cells with fewer rows are withheld (at least the network's 10)."
    )
    analytics_per_site: bool = Field(
        False, description="Allow this hospital's own (noisy) figures to be shown by name."
    )
    analytics_approval: bool = Field(
        False, description="Each analytics query needs a person's approval at the node."
    )

    def check_disease(self, disease: str) -> None:
        if self.diseases is not None and disease not in self.diseases:
            raise PermissionDenied(
                f"This hospital's local policy does not train {disease!r} (allowed: "
                f"{', '.join(self.diseases) or 'none'}). Change it with `medfed node policy set --diseases`."
            )


def load_policy(node_home: Path) -> LocalPolicy:
    path = node_home / POLICY_FILE
    if not path.exists():
        return LocalPolicy()
    try:
        return LocalPolicy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"The local policy {path} is invalid: {exc}") from exc


def save_policy(node_home: Path, policy: LocalPolicy) -> Path:
    unknown = sorted(set(policy.diseases or ()) - set(load_catalog()))
    if unknown:
        raise ConfigurationError(f"Unknown disease(s) in the policy: {', '.join(unknown)}.")
    path = node_home / POLICY_FILE
    write_private_file(path, yaml.safe_dump(policy.model_dump(), sort_keys=False))
    return path


def network_cap(network: dict[str, object]) -> float | None:
    """The network's epsilon cap from its policy answer; null means the network sets none."""
    cap = network.get("epsilon_cap")
    return None if cap is None else float(cap)  # type: ignore[arg-type]
