"""Secure aggregation cost: the protocol's four stages for 3, 10 and 30 hospitals, with 0 % and
30 % of them dropping out after sharing keys, against plain aggregation of the same updates.

Runs MedFed's protocol functions in one process (no network), timing the server's work and each
hospital's work separately with the process CPU clock; the HTTP cost of a round is measured by
the federated benchmark. Medians of repeated runs.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from harness import header

from medfed.fl.secagg import protocol, quantize

T = TypeVar("T")


def timed(clock: list[float], function: Callable[..., T], *args: Any) -> T:
    started = time.process_time()
    result = function(*args)
    clock.append(time.process_time() - started)
    return result


def secure_round(hospitals: int, dropout: float, length: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    ids = list(range(1, hospitals + 1))
    threshold = protocol.default_threshold(hospitals)
    updates = {u: rng.normal(0, 0.05, length) for u in ids}
    rows = {u: int(rng.integers(100, 2000)) for u in ids}
    dropped = set(ids[hospitals - round(dropout * hospitals) :])
    server: list[float] = []
    client: dict[int, list[float]] = {u: [] for u in ids}
    wall = time.perf_counter()
    states, roster = {}, {}
    for u in ids:
        states[u], message = timed(client[u], protocol.advertise, "bench", u, os.urandom)
        roster[u] = timed(server, protocol.check_advertisement, message)
    sealed = {
        u: timed(
            client[u],
            protocol.share_keys,
            states[u],
            roster,
            threshold,
            os.urandom,
            secrets.randbelow,
        )
        for u in ids
    }
    routed = timed(server, protocol.route, sealed, roster, threshold)
    masked = {}
    for u in ids:
        if u in dropped:
            continue
        encoded = timed(client[u], quantize.encode, updates[u], rows[u], 10.0)
        masked[u] = timed(client[u], protocol.masked_input, states[u], routed[u], encoded)
        timed(server, protocol.check_masked, masked[u], length + 1)
    responses = {
        u: timed(client[u], protocol.unmask, states[u], sorted(masked), threshold) for u in masked
    }
    total = timed(
        server, protocol.unmask_sum, "bench", roster, sorted(routed), masked, responses, threshold
    )
    mean, _ = timed(server, quantize.decode_mean, total)
    wall = time.perf_counter() - wall
    survivors = sorted(masked)
    weights = np.asarray([rows[u] for u in survivors], dtype=float)
    exact = weights @ np.stack([updates[u] for u in survivors]) / weights.sum()
    return {
        "wall_s": wall,
        "server_cpu_s": sum(server),
        "client_cpu_s": statistics.median(sum(v) for v in client.values()),
        "relative_error": float(np.linalg.norm(mean - exact) / np.linalg.norm(exact)),
    }


def plain_round(hospitals: int, length: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    updates = rng.normal(0, 0.05, (hospitals, length))
    weights = rng.integers(100, 2000, hospitals).astype(float)
    started = time.process_time()
    _ = weights @ updates / weights.sum()
    return {"server_cpu_s": time.process_time() - started}


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    repetitions, sizes, length = (1, [3], 1000) if quick else (5, [3, 10, 30], 10_000)
    rows = []
    for hospitals in sizes:
        for dropout in (0.0, 0.3):
            runs = [secure_round(hospitals, dropout, length, seed) for seed in range(repetitions)]
            plain = [plain_round(hospitals, length, seed) for seed in range(repetitions)]
            rows.append(
                {
                    "hospitals": hospitals,
                    "dropout": dropout,
                    **{k: statistics.median(r[k] for r in runs) for k in runs[0]},
                    "plain_server_cpu_s": statistics.median(p["server_cpu_s"] for p in plain),
                }
            )
    return repetitions, {"parameters": length, "results": rows}


def render(record: dict[str, Any]) -> str:
    rows, length = record["results"], record["parameters"]
    lines = [
        header(record),
        "",
        f"{length:,} parameters per update; dropouts leave after sharing keys (their masks are "
        "then removed from the survivors' shares).",
        "",
        "| hospitals | dropped | wall time, whole protocol (s) | server CPU (s) | CPU per hospital (s) | plain mode server CPU (s) | relative error vs plain |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['hospitals']} | {row['dropout']:.0%} | {row['wall_s']:.3f} | {row['server_cpu_s']:.4f} | "
            f"{row['client_cpu_s']:.4f} | {row['plain_server_cpu_s']:.5f} | {row['relative_error']:.1e} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "secagg"])
