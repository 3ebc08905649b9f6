"""Flower's side of the deployment-engine comparison: a Flower App (ServerApp + ClientApp) that
a SuperLink and its SuperNodes run as separate processes over gRPC, inside the Flower virtual
environment (never MedFed's). The task is deliberately tiny, so that what is measured is the
engine: a 24-parameter logistic regression, FedAvg, each client taking a few SGD steps on its
own synthetic rows (a few milliseconds). The ServerApp appends the wall time at which each
round's updates are aggregated to the file named by the run config's `marks-path`.
"""

from __future__ import annotations

import time

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import ServerApp, ServerAppComponents, ServerConfig
from flwr.server.strategy import FedAvg

PARAMETERS = 24  # 23 inputs and a bias
ROWS, STEPS, LEARNING_RATE = 64, 8, 0.1


class LocalSGD(NumPyClient):
    def __init__(self, partition: int) -> None:
        rng = np.random.default_rng(partition)
        self.x = rng.normal(size=(ROWS, PARAMETERS - 1))
        truth = np.linspace(-1.0, 1.0, PARAMETERS - 1)
        self.y = (self.x @ truth + rng.normal(scale=0.5, size=ROWS) > 0).astype(float)

    def fit(self, parameters, config):  # type: ignore[no-untyped-def]
        w = np.asarray(parameters[0], dtype=float).copy()
        for _ in range(STEPS):
            error = 1.0 / (1.0 + np.exp(-(self.x @ w[:-1] + w[-1]))) - self.y
            w[:-1] -= LEARNING_RATE * self.x.T @ error / ROWS
            w[-1] -= LEARNING_RATE * error.mean()
        return [w], ROWS, {}


def _client(context: Context):  # type: ignore[no-untyped-def]
    return LocalSGD(int(context.node_config["partition-id"])).to_client()


class MarkedFedAvg(FedAvg):
    def __init__(self, marks: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.marks = marks

    def aggregate_fit(self, server_round, results, failures):  # type: ignore[no-untyped-def]
        aggregated = super().aggregate_fit(server_round, results, failures)
        with open(self.marks, "a") as handle:
            handle.write(f"{server_round} {time.time():.6f} {len(results)} {len(failures)}\n")
        return aggregated


def _server(context: Context) -> ServerAppComponents:
    nodes = int(context.run_config["num-nodes"])
    strategy = MarkedFedAvg(
        str(context.run_config["marks-path"]),
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=nodes,
        min_available_clients=nodes,
        initial_parameters=ndarrays_to_parameters([np.zeros(PARAMETERS)]),
    )
    rounds = int(context.run_config["num-server-rounds"])
    return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=rounds))


client = ClientApp(client_fn=_client)
server = ServerApp(server_fn=_server)
