"""Fixed-point encoding of weighted updates in Z_{2^64}, where masks add and cancel.

A hospital with n_k rows and update w_k (clipped so that |w_i| ≤ B for every coordinate) sends
x_k = (n_k · q(w_k), n_k) mod 2^64 with q(w) = round(w · 2^F) as a two's-complement integer.
The server obtains Σ x_k mod 2^64 and decodes the weighted mean Σ n_k w_k / Σ n_k.

Why the sum cannot overflow. |q(w_i)| ≤ B · 2^F + 1/2, so the true integer total of coordinate i
satisfies |Σ_k n_k q(w_{k,i})| ≤ N (B · 2^F + 1/2) with N = Σ n_k. If N (B · 2^F + 1) < 2^63
(checked by `check_bounds` before a round starts), that total lies in [-2^63, 2^63), so its value
mod 2^64, read as a signed 64-bit integer, IS the total: wrap-around during the masked sums does
not matter because addition mod 2^64 is exact. The row total N < 2^63 is exact too. With the
defaults B = 10 and F = 32, any cohort with fewer than 2^27 (about 134 million) rows in total is
safe. The decoded mean differs from the exact weighted mean by at most 2^-(F+1) per coordinate.
"""

from __future__ import annotations

import numpy as np

FRACTION_BITS = 32
MODULUS_BITS = 64


class BoundsExceeded(ValueError):
    """The configured clip bound and row count could overflow the modular sum."""


def max_total_rows(clip: float, fraction_bits: int = FRACTION_BITS) -> int:
    """The largest Σ n_k for which N (B 2^F + 1) < 2^63."""
    return int((2**63 - 1) // (int(np.ceil(clip * 2**fraction_bits)) + 1))


def check_bounds(total_rows: int, clip: float, fraction_bits: int = FRACTION_BITS) -> None:
    limit = max_total_rows(clip, fraction_bits)
    if total_rows > limit:
        raise BoundsExceeded(
            f"{total_rows} rows with clip {clip:g} could overflow the 64-bit sum (limit {limit})"
        )


def clip_update(update: np.ndarray, bound: float) -> np.ndarray:
    """Each coordinate clipped to [-bound, bound], as float64 (what a protected update sends)."""
    return np.clip(np.asarray(update, dtype=np.float64), -bound, bound)


def encode(
    update: np.ndarray, rows: int, clip: float, fraction_bits: int = FRACTION_BITS
) -> np.ndarray:
    """(n · q(clip(w)), n) as uint64: the vector a hospital masks and sends."""
    if rows <= 0:
        raise ValueError("rows must be positive")
    clipped = clip_update(update, clip)
    fixed = np.rint(clipped * 2.0**fraction_bits).astype(np.int64)
    weighted = fixed * np.int64(rows)  # |value| < 2^63 by check_bounds on the cohort total
    return np.concatenate([weighted, np.asarray([rows], dtype=np.int64)]).view(np.uint64)


def decode_mean(total: np.ndarray, fraction_bits: int = FRACTION_BITS) -> tuple[np.ndarray, int]:
    """The weighted mean update and the row total from the summed vector."""
    signed = np.asarray(total, dtype=np.uint64).view(np.int64)
    rows = int(signed[-1])
    if rows <= 0:
        raise ValueError("the summed row count is not positive: the sum is corrupt")
    # One pass: int64 to float64 and the scaling by 2^-F / N together.
    return np.multiply(signed[:-1], 2.0**-fraction_bits / rows, dtype=np.float64), rows


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Addition mod 2^64 (uint64 arithmetic wraps)."""
    return np.asarray(a, dtype=np.uint64) + np.asarray(b, dtype=np.uint64)


def subtract(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.uint64) - np.asarray(b, dtype=np.uint64)


# Analytics answers: a vector of (noisy, scaled) statistics, summed as it is (no row weighting).
VALUE_FRACTION_BITS = 20
# |value| of one hospital's component (4.3e9 rows is beyond any hospital): 2^52 once encoded,
# so the sum over up to 2^11 = 2048 hospitals stays within [-2^63, 2^63) and decodes exactly.
MAX_VALUE = 2.0**32


def encode_values(values: np.ndarray, fraction_bits: int = VALUE_FRACTION_BITS) -> np.ndarray:
    """round(v · 2^F) in two's complement as uint64, for values summed across hospitals. A
    vector with a value beyond MAX_VALUE (or not finite) is refused: its sum could overflow."""
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or float(np.max(np.abs(array), initial=0.0)) > MAX_VALUE:
        raise BoundsExceeded(f"analytics values must be finite and at most {MAX_VALUE:g}")
    return np.rint(array * 2.0**fraction_bits).astype(np.int64).view(np.uint64)


def decode_values(total: np.ndarray, fraction_bits: int = VALUE_FRACTION_BITS) -> np.ndarray:
    """The float sum from the summed vector (exact to 2^-(F+1) per hospital and component)."""
    signed = np.asarray(total, dtype=np.uint64).view(np.int64)
    return np.multiply(signed, 2.0**-fraction_bits, dtype=np.float64)
