"""Protection modes side by side: plain, secure aggregation (pairwise masking) and homomorphic
encryption (CKKS), per round at 3, 10 and 30 hospitals and 10^3 and 10^5 parameters.

Runs MedFed's own protocol functions in one process (no network, no database): every message a
hospital would send or receive is built for real and its bytes counted; the server's work and
each hospital's work are timed with the process CPU clock; the relative error is that of the
mean update against the plaintext weighted mean. Medians of repeated runs. What HTTP adds is in
the federated benchmarks.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from harness import header

from medfed.fl.he import ckks, keys
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import crypto, protocol, quantize

T = TypeVar("T")
CLIP = 10.0


def timed(clock: list[float], function: Callable[..., T], *args: Any) -> T:
    started = time.process_time()
    result = function(*args)
    clock.append(time.process_time() - started)
    return result


def _inputs(hospitals: int, length: int, seed: int) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    rng = np.random.default_rng(seed)
    ids = range(1, hospitals + 1)
    return (
        {u: rng.normal(0, 0.05, length) for u in ids},
        {u: int(rng.integers(100, 2000)) for u in ids},
    )


def _exact(updates: dict[int, np.ndarray], rows: dict[int, int]) -> np.ndarray:
    weights = np.asarray([rows[u] for u in updates], dtype=float)
    return np.asarray(weights @ np.stack(list(updates.values())) / weights.sum())


def _error(mean: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(mean - exact) / np.linalg.norm(exact))


def _measured(
    wall: float,
    server: list[float],
    client: dict[int, list[float]],
    up: dict[int, int],
    down: dict[int, int],
    error: float,
) -> dict[str, float]:
    """One round's figures: wall time since `wall`, CPU, the median hospital's bytes, error."""
    return {
        "wall_s": time.perf_counter() - wall,
        "server_cpu_s": sum(server),
        "client_cpu_s": statistics.median(sum(v) for v in client.values()),
        "up_bytes": float(statistics.median(up.values())),
        "down_bytes": float(statistics.median(down.values())),
        "relative_error": error,
    }


def plain(hospitals: int, length: int, seed: int) -> dict[str, float]:
    updates, rows = _inputs(hospitals, length, seed)
    server: list[float] = []
    wall = time.perf_counter()
    sent = {u: u_.astype("<f4").tobytes() for u, u_ in updates.items()}
    received = {u: np.frombuffer(b, dtype="<f4").astype(np.float64) for u, b in sent.items()}
    mean = timed(server, _exact, received, rows)
    return {
        "wall_s": time.perf_counter() - wall,
        "server_cpu_s": sum(server),
        "client_cpu_s": 0.0,
        "up_bytes": float(statistics.median(len(b) for b in sent.values())),
        "down_bytes": 0.0,
        "relative_error": _error(mean, _exact(updates, rows)),
    }


def masking(hospitals: int, length: int, seed: int) -> dict[str, float]:
    updates, rows = _inputs(hospitals, length, seed)
    ids = sorted(updates)
    threshold = protocol.default_threshold(hospitals)
    server: list[float] = []
    client: dict[int, list[float]] = {u: [] for u in ids}
    up = {u: 0 for u in ids}
    down = {u: 0 for u in ids}
    wall = time.perf_counter()
    states, roster = {}, {}
    for u in ids:
        states[u], message = timed(client[u], protocol.advertise, "bench", u, os.urandom)
        up[u] += len(json.dumps(message))
        roster[u] = timed(server, protocol.check_advertisement, message)
    for u in ids:
        down[u] += len(json.dumps({str(k): v for k, v in roster.items()}))
    sealed = {}
    for u in ids:
        sealed[u] = timed(
            client[u], protocol.share_keys, states[u], roster, threshold, os.urandom,
            secrets.randbelow,
        )  # fmt: skip
        up[u] += sum(2 * len(c) for c in sealed[u].values())  # hex in JSON
    routed = timed(server, protocol.route, sealed, roster, threshold)
    masked = {}
    for u in ids:
        down[u] += sum(2 * len(c) for c in routed[u].values())
        encoded = timed(client[u], quantize.encode, updates[u], rows[u], CLIP)
        masked[u] = timed(client[u], protocol.masked_input, states[u], routed[u], encoded)
        up[u] += masked[u].astype("<u8").nbytes
        timed(server, protocol.check_masked, masked[u], length + 1)
    responses = {}
    for u in ids:
        responses[u] = timed(client[u], protocol.unmask, states[u], ids, threshold)
        up[u] += len(
            json.dumps({k: {str(i): v for i, v in d.items()} for k, d in responses[u].items()})
        )
    total = timed(server, protocol.unmask_sum, "bench", roster, ids, masked, responses, threshold)
    mean, _ = timed(server, quantize.decode_mean, total)
    return _measured(wall, server, client, up, down, _error(mean, _exact(updates, rows)))


def homomorphic(hospitals: int, length: int, seed: int) -> dict[str, float]:
    updates, rows = _inputs(hospitals, length, seed)
    ids = sorted(updates)
    server: list[float] = []
    client: dict[int, list[float]] = {u: [] for u in ids}
    up = {u: 0 for u in ids}
    down = {u: 0 for u in ids}
    wall = time.perf_counter()
    private = {u: timed(client[u], crypto.new_private_key, os.urandom) for u in ids}
    public = {u: crypto.public_key(private[u]) for u in ids}
    for u in ids:
        up[u] += len(json.dumps({wire.CIPHER_PUBLIC: public[u].hex()}))
        down[u] += len(json.dumps({str(k): v.hex() for k, v in public.items()}))
    holder = ids[0]
    made = timed(client[holder], ckks.new_keys)
    sealed = {
        u: timed(
            client[holder],
            keys.seal,
            private[holder],
            public[u],
            "bench",
            u,
            made.secret,
            os.urandom,
        )
        for u in ids
        if u != holder
    }
    up[holder] += 4 * len(made.public) // 3 + sum(
        2 * len(s) for s in sealed.values()
    )  # base64, hex
    timed(server, ckks.load_public, made.public)
    secret = {holder: made.secret}
    blobs = {}
    for u in ids:
        down[u] += 4 * len(made.public) // 3
        if u != holder:
            down[u] += 2 * len(sealed[u])
            secret[u] = timed(
                client[u], keys.open_sealed, private[u], public[holder], "bench", u, sealed[u]
            )
        clipped = np.clip(updates[u], -CLIP, CLIP)
        blobs[u] = timed(client[u], ckks.encrypt, made.public, np.append(clipped, 1.0), rows[u])
        up[u] += len(blobs[u])
        timed(server, ckks.check, made.public, blobs[u], length + 1)
    total = timed(server, ckks.add, made.public, [blobs[u] for u in ids], length + 1)
    decrypted = {}
    for u in ids:
        down[u] += len(total)
        decrypted[u] = timed(client[u], ckks.decrypt, secret[u], made.public, total, length + 1)
        up[u] += decrypted[u].astype("<f8").nbytes
    plaintext = decrypted[ids[0]]
    mean = timed(server, lambda t: t[:-1] / t[-1], plaintext)
    return _measured(wall, server, client, up, down, _error(mean, _exact(updates, rows)))


MODES: dict[str, Callable[[int, int, int], dict[str, float]]] = {
    "plain": plain,
    "secure aggregation": masking,
    "homomorphic (CKKS)": homomorphic,
}


def run(quick: bool, jobs: int) -> tuple[int, dict[str, Any]]:
    repetitions, sizes, lengths = (1, [3], [1000]) if quick else (3, [3, 10, 30], [1000, 100_000])
    rows = []
    for length in lengths:
        for hospitals in sizes:
            for name, mode in MODES.items():
                runs = [mode(hospitals, length, seed) for seed in range(repetitions)]
                rows.append(
                    {
                        "mode": name,
                        "hospitals": hospitals,
                        "parameters": length,
                        **{k: statistics.median(r[k] for r in runs) for k in runs[0]},
                    }
                )
    return repetitions, {"security": ckks.SECURITY, "clip": CLIP, "results": rows}


def _size(value: float) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def render(record: dict[str, Any]) -> str:
    lines = [
        header(record),
        "",
        f"One round, every hospital sending (no dropouts). {record['security']}. Bytes per "
        "hospital are the median hospital's messages of the protocol, as built (keys, shares, "
        "update, decryption or unmasking; not the model download every mode shares). Wall time "
        "runs every party in one process, one after another.",
        "",
        "| parameters | hospitals | mode | sent per hospital | received per hospital | CPU per hospital (s) | server CPU (s) | wall, whole round (s) | relative error vs plain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["results"]:
        lines.append(
            f"| {row['parameters']:,} | {row['hospitals']} | {row['mode']} | {_size(row['up_bytes'])} | "
            f"{_size(row['down_bytes'])} | {row['client_cpu_s']:.3f} | {row['server_cpu_s']:.3f} | "
            f"{row['wall_s']:.2f} | {row['relative_error']:.1e} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from run import main

    main(["--only", "protection"])
