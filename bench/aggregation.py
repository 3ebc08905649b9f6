"""5. Aggregation throughput on the server: updates per second for models of 10^3, 10^5 and 10^6
parameters, plain (decode, check, weighted mean) and secure (check each masked vector, add them,
remove the survivors' self-masks recovered from shares, decode), beside the machine's limit: one
NumPy sum over the same bytes.

Only the server's work is timed (wall clock, one core busy); the hospitals' side (training,
masking) is prepared beforehand.
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import time
from typing import Any

import numpy as np
from harness import header

from medfed.fl import aggregate
from medfed.fl.secagg import protocol, quantize
from medfed.server.services.contributions import decode_update

HOSPITALS = 10
CLIP = 10.0


def _plain(updates: list[str], rows: np.ndarray, length: int) -> float:
    started = time.perf_counter()
    vectors = np.stack([decode_update(u, length) for u in updates])
    aggregate.weighted_mean(vectors, rows)
    return time.perf_counter() - started


def _base64_only(updates: list[str]) -> float:
    """The part of the plain work that is only undoing the wire's base64."""
    started = time.perf_counter()
    for update in updates:
        base64.b64decode(update, validate=True)
    return time.perf_counter() - started


def _secure_inputs(updates: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """Run the hospitals' side of the protocol (not timed); what the server then holds."""
    ids = list(range(1, len(updates) + 1))
    threshold = protocol.default_threshold(len(ids))
    states, roster = {}, {}
    for u in ids:
        states[u], message = protocol.advertise("bench", u, os.urandom)
        roster[u] = protocol.check_advertisement(message)
    sealed = {
        u: protocol.share_keys(states[u], roster, threshold, os.urandom, secrets.randbelow)
        for u in ids
    }
    routed = protocol.route(sealed, roster, threshold)
    wire = {}
    for u in ids:
        encoded = quantize.encode(updates[u - 1], int(rows[u - 1]), CLIP)
        masked = protocol.masked_input(states[u], routed[u], encoded)
        wire[u] = base64.b64encode(masked.astype("<u8").tobytes()).decode("ascii")
    responses = {u: protocol.unmask(states[u], ids, threshold) for u in ids}
    return {"roster": roster, "ids": ids, "wire": wire, "responses": responses, "t": threshold}


def _secure(inputs: dict[str, Any], length: int) -> float:
    started = time.perf_counter()
    masked = {
        u: protocol.check_masked(
            np.frombuffer(base64.b64decode(blob, validate=True), dtype="<u8").astype(np.uint64),
            length + 1,
        )
        for u, blob in inputs["wire"].items()
    }
    total = protocol.unmask_sum(
        "bench", inputs["roster"], inputs["ids"], masked, inputs["responses"], inputs["t"]
    )
    quantize.decode_mean(total)
    return time.perf_counter() - started


def _numpy_sum(array: np.ndarray) -> float:
    started = time.perf_counter()
    array.sum(axis=0)
    return time.perf_counter() - started


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    repetitions = 1 if quick else 7
    sizes = [1_000, 100_000] if quick else [1_000, 100_000, 1_000_000]
    rng = np.random.default_rng(0)
    results = []
    for length in sizes:
        updates = rng.normal(0, 0.05, (HOSPITALS, length))
        rows = rng.integers(100, 2000, HOSPITALS).astype(np.float64)
        encoded = [base64.b64encode(u.astype("<f4").tobytes()).decode("ascii") for u in updates]
        inputs = _secure_inputs(updates, rows)
        plain = [_plain(encoded, rows, length) for _ in range(repetitions)]
        base64_only = [_base64_only(encoded) for _ in range(repetitions)]
        secure = [_secure(inputs, length) for _ in range(repetitions)]
        floats = updates.astype(np.float32)
        words = rng.integers(0, 2**63, (HOSPITALS, length + 1), dtype=np.uint64)
        limit_plain = [_numpy_sum(floats) for _ in range(repetitions)]
        limit_secure = [_numpy_sum(words) for _ in range(repetitions)]
        results.append(
            {
                "parameters": length,
                "plain_updates_per_s": HOSPITALS / statistics.median(plain),
                "plain_base64_share": statistics.median(base64_only) / statistics.median(plain),
                "secure_updates_per_s": HOSPITALS / statistics.median(secure),
                "numpy_float32_updates_per_s": HOSPITALS / statistics.median(limit_plain),
                "numpy_uint64_updates_per_s": HOSPITALS / statistics.median(limit_secure),
                "plain_mib_per_update": length * 4 / 2**20,
                "secure_mib_per_update": (length + 1) * 8 / 2**20,
            }
        )
    return repetitions, {"hospitals": HOSPITALS, "results": results}


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _share(row: dict[str, Any]) -> str:
    share = row.get("plain_base64_share")
    return "not measured" if share is None else f"{share:.0%}"


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"{record['hospitals']} updates per aggregation, no dropouts; median over runs. Plain "
        "updates are float32 (base64 on the wire); masked updates are uint64 fixed-point. The "
        "limit columns sum the same bytes with one NumPy call: nothing can aggregate faster. Plain "
        "work is decoding each update (base64, length and finiteness checks, float64) and the "
        "weighted mean; the base64 column is the share of it spent only undoing base64.",
        "",
        "| parameters | plain: updates/s | plain: time in base64 decoding | limit, float32 sum: updates/s | secure: updates/s | limit, uint64 sum: updates/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        lines.append(
            f"| {row['parameters']:,} | {_rate(row['plain_updates_per_s'])} | {_share(row)} | "
            f"{_rate(row['numpy_float32_updates_per_s'])} | {_rate(row['secure_updates_per_s'])} | "
            f"{_rate(row['numpy_uint64_updates_per_s'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "aggregation"])
