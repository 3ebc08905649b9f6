"""5. Aggregation throughput on the server: updates per second for models of 10^3, 10^5 and 10^6
parameters, plain (decode, check, weighted mean) and secure (check each masked vector, add them,
remove the survivors' self-masks recovered from shares, decode), beside the machine's limit: one
NumPy sum over the same bytes.

Only the server's work is timed (wall clock); the hospitals' side (training, masking) is
prepared beforehand. NumPy's sum (the limit) uses one core; the BLAS calls MedFed makes may use
both.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from typing import Any

import numpy as np
from harness import header

from medfed.core import frames
from medfed.fl.rounds import check_update
from medfed.fl.secagg import protocol, quantize
from medfed.fl.strategies import FedAvg, RoundUpdates
from medfed.server.services.updates import decode_update

HOSPITALS = 10
CLIP = 10.0
NORM_BOUND = 1e6  # the check runs in full; these random updates are not clipped


def _plain(bodies: list[bytes], rows: np.ndarray, length: int) -> float:
    """What the server does: read each frame, check the update (length, finite, norm bound),
    then FedAvg's reduction over the vectors where they lie."""
    started = time.perf_counter()
    vectors = []
    for body in bodies:
        vector = decode_update(frames.unpack(body)[1], length)
        check_update(vector, length, NORM_BOUND)
        vectors.append(vector)
    FedAvg().reduce(RoundUpdates.plain(vectors, rows))
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
        wire[u] = frames.pack({"job_ref": f"bench-{u}"}, masked.astype("<u8").tobytes())
    responses = {u: protocol.unmask(states[u], ids, threshold) for u in ids}
    return {"roster": roster, "ids": ids, "wire": wire, "responses": responses, "t": threshold}


def _secure(inputs: dict[str, Any], length: int) -> float:
    started = time.perf_counter()
    masked = {
        u: protocol.check_masked(np.frombuffer(frames.unpack(body)[1], dtype="<u8"), length + 1)
        for u, body in inputs["wire"].items()
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
        bodies = [frames.pack({"job_ref": "bench"}, u.astype("<f4").tobytes()) for u in updates]
        inputs = _secure_inputs(updates, rows)
        plain = [_plain(bodies, rows, length) for _ in range(repetitions)]
        secure = [_secure(inputs, length) for _ in range(repetitions)]
        floats = updates.astype(np.float32)
        words = rng.integers(0, 2**63, (HOSPITALS, length + 1), dtype=np.uint64)
        limit_plain = [_numpy_sum(floats) for _ in range(repetitions)]
        limit_secure = [_numpy_sum(words) for _ in range(repetitions)]
        results.append(
            {
                "parameters": length,
                "plain_updates_per_s": HOSPITALS / statistics.median(plain),
                "wire": "frame",
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


def _of(rate: float, limit: float) -> str:
    return f"{_rate(rate)} ({rate / limit:.0%})"


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"{record['hospitals']} updates per aggregation, no dropouts; median over runs. Updates "
        "arrive as they do from nodes: binary frames (a small JSON header, then the raw vector; "
        "float32 for plain updates, uint64 fixed-point for masked ones). The limit columns sum "
        "as many values, held in one NumPy matrix, with one NumPy call: one read of the data, "
        "so nothing can aggregate faster on one core; in brackets, the share of that limit "
        "reached (MedFed's BLAS calls may use both cores). Plain work is what the server does: read each frame, check the "
        "update (its length; finite values and the L2 norm bound in one pass), accumulate the "
        "row-weighted sum in float32 (one BLAS axpy per update, reading it where it lies) and "
        "take the mean; secure work is reading and checking each masked vector, reconstructing "
        "the self-mask seeds from shares, then one pass that, a cache-sized chunk at a time, "
        "adds the masked vectors and subtracts the masks (AES-128-CTR keystreams), and "
        "decoding the fixed-point mean. The shares depend on the machine: its memory "
        "bandwidth sets the limit, its AES speed the secure work.",
        "",
        "| parameters | plain: updates/s | limit, float32 sum: updates/s | secure: updates/s | limit, uint64 sum: updates/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        limit_plain = row["numpy_float32_updates_per_s"]
        limit_secure = row["numpy_uint64_updates_per_s"]
        lines.append(
            f"| {row['parameters']:,} | {_of(row['plain_updates_per_s'], limit_plain)} | "
            f"{_rate(limit_plain)} | {_of(row['secure_updates_per_s'], limit_secure)} | "
            f"{_rate(limit_secure)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "aggregation"])
