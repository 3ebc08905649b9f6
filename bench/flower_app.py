"""Flower's side of the Flower comparison. Runs inside the Flower virtual environment (never
MedFed's): `python flower_app.py DATA.npz OUT.json`.

The data file holds, per site, the same model inputs MedFed's nodes train on (MedFed's
preprocessing of the same split) and the same untrained starting parameters. Each Flower client
runs the nodes' local training without DP: logistic regression, plain SGD, mean logistic loss,
shuffled mini-batches of 32, learning rate 0.05, 5 epochs; the server runs Flower's FedAvg.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.common import Context, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import ServerApp, ServerAppComponents, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.simulation import run_simulation

EPOCHS, BATCH, LEARNING_RATE = 5, 32, 0.05


def sgd(weights: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = weights.copy()
    for _ in range(EPOCHS):
        order = rng.permutation(len(y))
        for start in range(0, len(y), BATCH):
            index = order[start : start + BATCH]
            logits = x[index] @ w[:-1] + w[-1]
            error = 1.0 / (1.0 + np.exp(-logits)) - y[index]  # d(mean BCE)/d(logit) per row
            w[:-1] -= LEARNING_RATE * (x[index].T @ error) / len(index)
            w[-1] -= LEARNING_RATE * error.mean()
    return w


def accuracy(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float((((x @ weights[:-1] + weights[-1]) > 0).astype(float) == y).mean())


def main() -> None:
    data_path, out_path = sys.argv[1], sys.argv[2]
    with np.load(data_path) as archive:  # plain arrays: Ray pickles what the clients use
        data = {key: archive[key] for key in archive.files}
    sites = int(data["sites"])
    rounds = int(data["rounds"])
    start = data["initial"].astype(np.float64)
    marks: list[float] = []
    final: list[np.ndarray] = []

    class Site(NumPyClient):
        def __init__(self, index: int) -> None:
            self.x = data[f"x_train_{index}"]
            self.y = data[f"y_train_{index}"]
            self.rng = np.random.default_rng(index)

        def fit(self, parameters, config):  # type: ignore[no-untyped-def]
            trained = sgd(parameters[0], self.x, self.y, self.rng)
            return [trained], len(self.y), {}

    class TimedFedAvg(FedAvg):
        def aggregate_fit(self, server_round, results, failures):  # type: ignore[no-untyped-def]
            aggregated = super().aggregate_fit(server_round, results, failures)
            marks.append(time.perf_counter())
            if aggregated[0] is not None:
                final[:] = parameters_to_ndarrays(aggregated[0])
            return aggregated

    def client_fn(context: Context):  # type: ignore[no-untyped-def]
        return Site(int(context.node_config["partition-id"])).to_client()

    def server_fn(context: Context) -> ServerAppComponents:
        strategy = TimedFedAvg(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=sites,
            min_available_clients=sites,
            initial_parameters=ndarrays_to_parameters([start]),
        )
        return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=rounds))

    began = time.perf_counter()
    run_simulation(
        server_app=ServerApp(server_fn=server_fn),
        client_app=ClientApp(client_fn=client_fn),
        num_supernodes=sites,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
    )
    total = time.perf_counter() - began
    weights = final[0]
    per_site = [accuracy(weights, data[f"x_test_{k}"], data[f"y_test_{k}"]) for k in range(sites)]
    x_all = np.concatenate([data[f"x_test_{k}"] for k in range(sites)])
    y_all = np.concatenate([data[f"y_test_{k}"] for k in range(sites)])
    gaps = np.diff(marks).tolist()
    result = {
        "mean_site": float(np.mean(per_site)),
        "combined": accuracy(weights, x_all, y_all),
        "seconds_per_round": float(np.median(gaps)) if gaps else total,
        "total_seconds": total,
        "rounds": len(marks),
    }
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
