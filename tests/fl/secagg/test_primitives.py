"""Crypto, Shamir, quantisation and masks: the layers under the protocol (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medfed.fl.secagg import crypto, masking, quantize, shamir


def seeded(seed: int) -> tuple[crypto.RandomBytes, shamir.RandomBelow]:
    rng = np.random.default_rng(seed)
    return (lambda n: rng.bytes(n)), (lambda p: int.from_bytes(rng.bytes(80), "big") % p)


def test_key_agreement_is_symmetric_and_bound_to_its_context() -> None:
    random_bytes, _ = seeded(1)
    a, b = crypto.new_private_key(random_bytes), crypto.new_private_key(random_bytes)
    shared = crypto.agree(a, crypto.public_key(b), b"ctx")
    assert shared == crypto.agree(b, crypto.public_key(a), b"ctx")
    assert shared != crypto.agree(a, crypto.public_key(b), b"other ctx")


def test_aead_refuses_wrong_key_or_context_or_tampering() -> None:
    random_bytes, _ = seeded(2)
    key, other = random_bytes(32), random_bytes(32)
    sealed = crypto.encrypt(key, b"share", b"round 1", random_bytes)
    assert crypto.decrypt(key, sealed, b"round 1") == b"share"
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for args in (
        (other, sealed, b"round 1"),
        (key, sealed, b"round 2"),
        (key, tampered, b"round 1"),
    ):
        with pytest.raises(crypto.DecryptionFailed):
            crypto.decrypt(*args)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(key, b"short", b"round 1")


def test_prg_is_deterministic_per_seed() -> None:
    seed = bytes(range(32))
    assert np.array_equal(crypto.prg_uint64(seed, 100), crypto.prg_uint64(seed, 100))
    assert not np.array_equal(crypto.prg_uint64(seed, 100), crypto.prg_uint64(bytes(32), 100))


def test_one_pass_equals_adding_and_masking_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    addends = [rng.integers(0, 2**64, 50, dtype=np.uint64) for _ in range(3)]
    seeds = [(bytes([i]) * 32, i % 2 == 0) for i in range(4)]
    expected = np.zeros(50, dtype=np.uint64)
    for addend in addends:
        expected = quantize.add(expected, addend)
    for seed, subtract in seeds:
        step = quantize.subtract if subtract else quantize.add
        expected = step(expected, crypto.prg_uint64(seed, 50))  # whole, in one chunk
    # Chunks much shorter than the vector (and not whole AES blocks): the pass crosses chunk
    # boundaries, and the keystreams must not depend on where they are cut.
    monkeypatch.setattr(crypto, "_PRG_CHUNK_WORDS", 7)
    total = np.zeros(50, dtype=np.uint64)
    crypto.combine(total, addends=addends, keystreams=seeds)
    assert np.array_equal(total, expected)
    with pytest.raises(ValueError, match="as long as the target"):
        crypto.combine(total, addends=[np.zeros(49, dtype=np.uint64)])
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.apply_prg(total, b"short")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**256 - 1), st.integers(2, 12), st.data())
def test_shamir_any_t_shares_reconstruct_and_t_minus_1_do_not(
    secret: int, holders: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(1, holders))
    _, random_below = seeded(data.draw(st.integers(0, 10**6)))
    ids = list(range(1, holders + 1))
    shares = shamir.split(secret, ids, threshold, random_below)
    chosen = data.draw(st.permutations(ids))[:threshold]
    assert shamir.combine({x: shares[x] for x in chosen}) == secret
    if threshold > 1:
        assert shamir.combine({x: shares[x] for x in chosen[:-1]}) != secret
    assert shamir.from_bytes(shamir.to_bytes(shares[1])) == shares[1]


def test_shamir_refuses_bad_arguments() -> None:
    _, random_below = seeded(3)
    with pytest.raises(ValueError):
        shamir.split(5, [1, 2], 3, random_below)
    with pytest.raises(ValueError):
        shamir.split(5, [1, 1], 2, random_below)
    with pytest.raises(ValueError):
        shamir.from_bytes(b"\x00" * 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=50),
    st.integers(1, 10**6),
)
def test_quantisation_error_is_within_half_a_step(values: list[float], rows: int) -> None:
    update = np.asarray(values)
    mean, total = quantize.decode_mean(quantize.encode(update, rows, clip=10.0))
    assert total == rows
    assert np.max(np.abs(mean - np.clip(update, -10, 10))) <= 2.0 ** -(quantize.FRACTION_BITS + 1)


def test_the_overflow_bound_is_checked() -> None:
    limit = quantize.max_total_rows(10.0)
    assert 2**26 < limit < 2**28
    quantize.check_bounds(limit, 10.0)
    with pytest.raises(quantize.BoundsExceeded):
        quantize.check_bounds(limit + 1, 10.0)
    # At the limit the largest possible total still decodes exactly.
    worst = np.full(3, 10.0)
    big = quantize.encode(worst, limit // 2, 10.0)
    total = quantize.add(big, big)
    assert np.allclose(quantize.decode_mean(total)[0], worst)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 8), st.integers(0, 10**6))
def test_pairwise_masks_cancel_and_only_self_masks_remain(hospitals: int, seed: int) -> None:
    random_bytes, _ = seeded(seed)
    privates = {u: crypto.new_private_key(random_bytes) for u in range(1, hospitals + 1)}
    publics = {u: crypto.public_key(p) for u, p in privates.items()}
    seeds = {u: random_bytes(32) for u in privates}
    length = 17
    total = np.zeros(length, dtype=np.uint64)
    for u in privates:
        masked = masking.mask(
            np.zeros(length, dtype=np.uint64), u, privates[u], seeds[u], publics, "r1"
        )
        total = quantize.add(total, masked)
    for u in privates:
        total = quantize.subtract(total, crypto.prg_uint64(seeds[u], length))
    assert not total.any()
