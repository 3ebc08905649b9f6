"""CKKS updates: the encrypted sum decrypts to the plaintext weighted sum within the stated
error, and what cannot be added to a round's sum is refused with the reason."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tenseal

from medfed.fl.he import ckks, keys
from medfed.fl.secagg import crypto

LENGTH = 10_000  # three ciphertexts: 4096 + 4096 + 1808 values


@pytest.fixture(scope="module")
def round_keys() -> ckks.RoundKeys:
    return ckks.new_keys()


def test_the_sum_of_weighted_updates_decrypts_to_the_plain_sum(round_keys: ckks.RoundKeys) -> None:
    rng = np.random.default_rng(4)
    updates = [rng.normal(0, 0.05, LENGTH) for _ in range(3)]
    rows = [120, 45, 300]
    blobs = [ckks.encrypt(round_keys.public, u, n) for u, n in zip(updates, rows, strict=True)]
    total = ckks.add(round_keys.public, blobs, LENGTH)
    mean = ckks.decrypt(round_keys.secret, round_keys.public, total, LENGTH) / sum(rows)
    plain = sum(n * u for u, n in zip(updates, rows, strict=True)) / sum(rows)
    assert mean.shape == (LENGTH,)
    assert np.max(np.abs(mean - plain)) < 1e-6  # the documented bound; seen: about 1e-9
    assert len(blobs[0]) < 80 * LENGTH  # about 57 bytes per parameter on the wire


def test_the_public_context_cannot_decrypt_and_a_secret_one_is_refused_as_public(
    round_keys: ckks.RoundKeys,
) -> None:
    blob = ckks.encrypt(round_keys.public, np.ones(5), 1.0)
    with pytest.raises(ValueError, match="no secret key"):
        ckks.decrypt(round_keys.public, round_keys.public, blob, 5)
    with pytest.raises(ckks.BadCiphertext, match="holds a secret key"):
        ckks.load_public(round_keys.secret)
    assert "128-bit" in ckks.SECURITY and sum(ckks.COEFF_BITS) <= ckks.MAX_MODULUS_BITS_128


def test_what_cannot_join_the_sum_is_refused_with_why(round_keys: ckks.RoundKeys) -> None:
    other = ckks.new_keys()
    good = ckks.encrypt(round_keys.public, np.ones(LENGTH), 2.0)
    cases = {
        "another key": ckks.encrypt(other.public, np.ones(LENGTH), 2.0),
        "3 ciphertexts where a 5000-parameter": good,  # checked against a shorter model
        "cut short": good[:-100],
        "wrong or missing header": b"garbage" * 50,
        "trailing bytes": good + b"\x00",
    }
    for reason, blob in cases.items():
        length = 5000 if reason.startswith("3 ") else LENGTH
        with pytest.raises(ckks.BadCiphertext, match=reason):
            ckks.check(round_keys.public, blob, length)
    tampered = bytearray(good)
    start = ckks._HEADER.size + ckks._LENGTH.size  # the first ciphertext's own header
    tampered[start : start + 16] = b"\xff" * 16
    with pytest.raises(ckks.BadCiphertext, match="cannot be read"):
        ckks.check(round_keys.public, bytes(tampered), LENGTH)
    ckks.check(round_keys.public, good, LENGTH)  # and the good one passes


def test_the_secret_key_travels_sealed_to_one_hospital_of_one_round(
    round_keys: ckks.RoundKeys,
) -> None:
    holder, member, stranger = (crypto.new_private_key(os.urandom) for _ in range(3))
    sealed = keys.seal(
        holder, crypto.public_key(member), "round-7", 2, round_keys.secret, os.urandom
    )
    assert round_keys.secret not in sealed
    opened = keys.open_sealed(member, crypto.public_key(holder), "round-7", 2, sealed)
    assert opened == round_keys.secret
    for private, ref, recipient in (
        (stranger, "round-7", 2),
        (member, "round-8", 2),
        (member, "round-7", 3),
    ):
        with pytest.raises(crypto.DecryptionFailed):
            keys.open_sealed(private, crypto.public_key(holder), ref, recipient, sealed)


def _public_context(degree: int, bits: list[int], scale_bits: int) -> bytes:
    context = tenseal.context(
        tenseal.SCHEME_TYPE.CKKS, poly_modulus_degree=degree, coeff_mod_bit_sizes=bits
    )
    context.global_scale = 2.0**scale_bits
    context.make_context_public()
    return bytes(context.serialize(save_public_key=True))


def test_a_key_holder_cannot_choose_weaker_parameters() -> None:
    for degree, bits, scale_bits, shown in (
        (4096, [40, 20, 40], 20, "N = 4096"),  # a smaller ring
        (8192, [60, 40, 40, 60], 40, "a 200-bit modulus"),  # another chain
        (8192, [60, 40, 60], 30, f"scale {2.0**30:g}"),
    ):
        with pytest.raises(ckks.BadCiphertext) as refused:
            ckks.load_public(_public_context(degree, bits, scale_bits))
        assert shown in str(refused.value) and "128-bit" in str(refused.value)
    assert ckks.load_public(_public_context(8192, [60, 40, 60], 40)) is not None
