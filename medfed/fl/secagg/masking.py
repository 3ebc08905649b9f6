"""Masks in Z_{2^64}: a self mask from a private seed, and one pairwise mask per pair of
hospitals that the two add with opposite signs, so pairwise masks cancel in the sum."""

from __future__ import annotations

import numpy as np

from medfed.fl.secagg import crypto, quantize


def pair_context(round_ref: str, a: int, b: int) -> bytes:
    low, high = sorted((a, b))
    return f"medfed-secagg/{round_ref}/pair/{low}/{high}".encode()


def pairwise_mask(
    own_id: int, own_private: bytes, peer_id: int, peer_public: bytes, round_ref: str, length: int
) -> np.ndarray:
    """The mask `own_id` adds for `peer_id`: +PRG(s) if own_id < peer_id, else -PRG(s)."""
    seed = crypto.agree(own_private, peer_public, pair_context(round_ref, own_id, peer_id))
    stream = crypto.prg_uint64(seed, length)
    return stream if own_id < peer_id else np.zeros(length, dtype=np.uint64) - stream


def mask(
    encoded: np.ndarray,
    own_id: int,
    own_private: bytes,
    self_seed: bytes,
    peers: dict[int, bytes],
    round_ref: str,
) -> np.ndarray:
    """y = x + PRG(b) + Σ_v ±PRG(s_uv) mod 2^64, over the peers' public masking keys."""
    length = len(encoded)
    masked = quantize.add(encoded, crypto.prg_uint64(self_seed, length))
    for peer_id, peer_public in peers.items():
        if peer_id != own_id:
            masked = quantize.add(
                masked, pairwise_mask(own_id, own_private, peer_id, peer_public, round_ref, length)
            )
    return masked
