"""Federated strategies: one object per rule, one method per round phase.

- `client_settings`: what hospitals are told to train with (FedProx adds mu).
- `reduce`: combine the round's updates; plain mode passes them one by one, secure mode passes
  only their weighted sum (strategies that need individual updates refuse secure mode).
- `apply`: turn the combined update into the next global parameters, with the server
  optimiser's state (FedAdam, FedYogi) carried in a dict that can be persisted between rounds.

Server optimisers follow Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from medfed.fl import aggregate


@dataclass(frozen=True)
class RoundUpdates:
    """The row-weighted mean update and the rows behind it; in plain mode also each update and
    its weight (secure mode yields only the mean: never an individual update)."""

    mean: np.ndarray
    total_weight: float
    individual: tuple[np.ndarray, ...] | None = None
    weights: np.ndarray | None = None

    @classmethod
    def plain(cls, updates: Sequence[np.ndarray] | np.ndarray, weights: np.ndarray) -> RoundUpdates:
        """From the updates as received (float32 views of their bytes, or a matrix's rows); they
        are stacked only for a strategy that needs them one by one."""
        vectors = tuple(updates)
        w = np.asarray(weights, dtype=np.float64)
        total = float(w.sum())
        return cls(
            aggregate.mean_from_sum(aggregate.weighted_sum(vectors, w), total), total, vectors, w
        )

    @classmethod
    def secure(cls, mean: np.ndarray, rows: int) -> RoundUpdates:
        """From what secure aggregation reveals: the mean and the row total."""
        return cls(mean, float(rows))


@dataclass
class Strategy:
    name: ClassVar[str] = "fedavg"
    needs_individual_updates: ClassVar[bool] = False

    def client_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "proximal_mu": 0.0}

    def reduce(self, updates: RoundUpdates) -> np.ndarray:
        return updates.mean

    def apply(
        self, parameters: np.ndarray, combined: np.ndarray, state: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        return np.asarray(parameters, dtype=np.float64) + combined, state

    def _individual(self, updates: RoundUpdates) -> np.ndarray:
        if updates.individual is None:
            raise ValueError(
                f"{self.name} needs each hospital's update: run the round in plain mode"
            )
        return np.stack(updates.individual).astype(np.float64, copy=False)


@dataclass
class FedAvg(Strategy):
    name: ClassVar[str] = "fedavg"


@dataclass
class FedProx(Strategy):
    """FedAvg on the server; the proximal term mu lives in the hospitals' local training."""

    name: ClassVar[str] = "fedprox"
    proximal_mu: float = 0.01

    def client_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "proximal_mu": self.proximal_mu}


@dataclass
class FedAdam(Strategy):
    name: ClassVar[str] = "fedadam"
    server_learning_rate: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    def _second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return self.beta2 * v + (1 - self.beta2) * delta**2

    def apply(
        self, parameters: np.ndarray, combined: np.ndarray, state: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        m = np.asarray(state.get("m", np.zeros_like(combined)), dtype=np.float64)
        v = np.asarray(state.get("v", np.full_like(combined, self.tau**2)), dtype=np.float64)
        m = self.beta1 * m + (1 - self.beta1) * combined
        v = self._second_moment(v, combined)
        new = np.asarray(parameters, dtype=np.float64) + self.server_learning_rate * m / (
            np.sqrt(v) + self.tau
        )
        return new, {"m": m.tolist(), "v": v.tolist(), "rounds": int(state.get("rounds", 0)) + 1}


@dataclass
class FedYogi(FedAdam):
    name: ClassVar[str] = "fedyogi"

    def _second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        squared = delta**2
        return np.asarray(v - (1 - self.beta2) * squared * np.sign(v - squared))


@dataclass
class CoordinateMedian(Strategy):
    name: ClassVar[str] = "median"
    needs_individual_updates: ClassVar[bool] = True

    def reduce(self, updates: RoundUpdates) -> np.ndarray:
        return aggregate.coordinate_median(self._individual(updates))


@dataclass
class TrimmedMean(Strategy):
    name: ClassVar[str] = "trimmed_mean"
    needs_individual_updates: ClassVar[bool] = True
    trim_fraction: float = 0.2

    def reduce(self, updates: RoundUpdates) -> np.ndarray:
        return aggregate.trimmed_mean(self._individual(updates), self.trim_fraction)


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (FedAvg, FedProx, FedAdam, FedYogi, CoordinateMedian, TrimmedMean)
}


def make_strategy(name: str, **options: Any) -> Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**options)


__all__ = ["STRATEGIES", "RoundUpdates", "Strategy", "make_strategy"]
