"""Masks in Z_{2^64}: a self mask from a private seed, and one pairwise mask per pair of
hospitals that the two add with opposite signs, so pairwise masks cancel in the sum."""

from __future__ import annotations

import numpy as np

from medfed.fl.secagg import crypto


def pair_context(round_ref: str, a: int, b: int) -> bytes:
    low, high = sorted((a, b))
    return f"medfed-secagg/{round_ref}/pair/{low}/{high}".encode()


def mask(
    encoded: np.ndarray,
    own_id: int,
    own_private: bytes,
    self_seed: bytes,
    peers: dict[int, bytes],
    round_ref: str,
) -> np.ndarray:
    """y = x + PRG(b) + Σ_v ±PRG(s_uv) mod 2^64, over the peers' public masking keys."""
    masked = np.array(encoded, dtype=np.uint64)  # the only copy; masks are added in place
    keystreams = [(self_seed, False)]
    for peer_id, peer_public in peers.items():
        if peer_id != own_id:
            seed = crypto.agree(own_private, peer_public, pair_context(round_ref, own_id, peer_id))
            keystreams.append((seed, own_id > peer_id))
    crypto.combine(masked, keystreams=keystreams)
    return masked
