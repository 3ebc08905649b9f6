"""Shamir secret sharing over the prime field GF(2^521 - 1) (pure integer arithmetic).

A secret s < p is the constant term of a random polynomial of degree t - 1; share i is the
polynomial at x = i. Any t shares give s by Lagrange interpolation at 0; any t - 1 shares are
uniformly distributed whatever s is, so they reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

PRIME = 2**521 - 1  # a Mersenne prime: room for 32-byte secrets with margin
SHARE_BYTES = 66

RandomBelow = Callable[[int], int]


def split(
    secret: int, holders: Sequence[int], threshold: int, random_below: RandomBelow
) -> dict[int, int]:
    """Shares of `secret` for each holder x (distinct, 1 ≤ x < p); any `threshold` recover it."""
    if not 0 <= secret < PRIME:
        raise ValueError("the secret must be in the field")
    if not 1 <= threshold <= len(holders):
        raise ValueError("the threshold must be between 1 and the number of holders")
    if len(set(holders)) != len(holders) or any(not 0 < x < PRIME for x in holders):
        raise ValueError("holders are distinct non-zero field elements")
    coefficients = [secret] + [random_below(PRIME) for _ in range(threshold - 1)]
    shares = {}
    for x in holders:
        value = 0
        for coefficient in reversed(coefficients):
            value = (value * x + coefficient) % PRIME
        shares[x] = value
    return shares


def combine(shares: dict[int, int]) -> int:
    """The secret from shares {x: y}, by Lagrange interpolation at 0 (needs at least t of them)."""
    if not shares:
        raise ValueError("no shares")
    secret = 0
    for i, y_i in shares.items():
        numerator, denominator = 1, 1
        for j in shares:
            if j != i:
                numerator = numerator * (-j) % PRIME
                denominator = denominator * (i - j) % PRIME
        secret = (secret + y_i * numerator * pow(denominator, -1, PRIME)) % PRIME
    return secret


def to_bytes(value: int) -> bytes:
    return value.to_bytes(SHARE_BYTES, "big")


def from_bytes(blob: bytes) -> int:
    if len(blob) != SHARE_BYTES:
        raise ValueError(f"a share has {SHARE_BYTES} bytes")
    value = int.from_bytes(blob, "big")
    if value >= PRIME:
        raise ValueError("the share is not a field element")
    return value
