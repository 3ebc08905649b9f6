"""CKKS for a round's updates, through TenSEAL (Microsoft SEAL underneath).

Parameters: ring degree N = 8192 with a 160-bit modulus chain (60, 40, 60) and a 2^40 scale.
The HomomorphicEncryption.org security standard allows at most 218 bits of modulus at N = 8192
for 128-bit classical security with a ternary secret, so 160 bits is 128-bit secure with room to
spare. A ciphertext holds N/2 = 4096 values; an update of P parameters travels as ceil(P/4096)
ciphertexts. Nothing is multiplied under encryption: each hospital weights its own update by its
row count before encrypting, and the server only adds ciphertexts, so one level suffices and the
error stays near the encoding error (about 1e-8 absolute per value at this scale; tested).

A submission is framed: the SHA-256 of the round's public context and the chunk count come first,
so a ciphertext made under another round's keys, or cut short, is refused before it is added
(CKKS itself cannot tell: a foreign ciphertext adds up to noise).
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

POLY_DEGREE = 8192
COEFF_BITS = (60, 40, 60)
SCALE_BITS = 40
SLOTS = POLY_DEGREE // 2
MAX_MODULUS_BITS_128 = 218  # HomomorphicEncryption.org standard, N = 8192, ternary secret
SECURITY = (
    f"CKKS, N = {POLY_DEGREE}, modulus {'+'.join(map(str, COEFF_BITS))} = {sum(COEFF_BITS)} bits "
    f"(at most {MAX_MODULUS_BITS_128} for 128-bit security), scale 2^{SCALE_BITS}: 128-bit"
)
_MAGIC = b"MFHE1"
_HEADER = struct.Struct(">5s32sI")  # magic, context fingerprint, chunk count
_LENGTH = struct.Struct(">I")


class BadCiphertext(ValueError):
    """A submission that cannot be added to this round's sum, said so with why."""


def _tenseal() -> Any:
    try:
        import tenseal
    except ImportError as exc:  # a node without the optional library declines HE rounds
        raise RuntimeError(
            f"homomorphic rounds need TenSEAL, which cannot be loaded here ({exc})"
        ) from None
    return tenseal


def available() -> str | None:
    """None when TenSEAL loads; otherwise why not, in words."""
    try:
        _tenseal()
    except RuntimeError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class RoundKeys:
    """A fresh CKKS key pair: `secret` (decrypts; stays in the cohort) and `public` (encrypts and
    adds; what the server holds)."""

    secret: bytes
    public: bytes

    @property
    def fingerprint(self) -> bytes:
        return fingerprint(self.public)


def fingerprint(public: bytes) -> bytes:
    return hashlib.sha256(public).digest()


def new_keys() -> RoundKeys:
    ts = _tenseal()
    context = ts.context(
        ts.SCHEME_TYPE.CKKS, poly_modulus_degree=POLY_DEGREE, coeff_mod_bit_sizes=list(COEFF_BITS)
    )
    context.global_scale = 2.0**SCALE_BITS
    secret = context.serialize(
        save_public_key=False, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
    )
    context.make_context_public()
    public = context.serialize(
        save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    return RoundKeys(secret, public)


def load_public(public: bytes) -> Any:
    """The public context, refusing one that carries a secret key (it must never reach the
    server) or is not CKKS at this module's parameters."""
    ts = _tenseal()
    try:
        context = ts.context_from(public)
    except Exception as exc:  # TenSEAL raises bare exceptions for bad streams
        raise BadCiphertext(f"the public context cannot be read ({exc})") from None
    if context.is_private():
        raise BadCiphertext("the context holds a secret key: only the public context may be sent")
    _check_parameters(context)
    return context


def _check_parameters(context: Any) -> None:
    """The key holder chose the context: refuse parameters other than the stated, 128-bit ones
    (a smaller ring or a longer modulus would weaken every hospital's encryption)."""
    key_data = context.data.seal_context().key_context_data()
    parms = key_data.parms()
    found = (
        str(parms.scheme()).rsplit(".", 1)[-1],
        parms.poly_modulus_degree(),
        key_data.total_coeff_modulus_bit_count(),
        context.global_scale,
    )
    wanted = ("CKKS", POLY_DEGREE, sum(COEFF_BITS), float(2**SCALE_BITS))
    if found != wanted or not context.has_public_key():
        raise BadCiphertext(
            f"the public context is not MedFed's CKKS parameters ({SECURITY}); it has scheme "
            f"{found[0]}, N = {found[1]}, a {found[2]}-bit modulus and scale {found[3]:g}"
        )


def _load_secret(secret: bytes) -> Any:
    context = _tenseal().context_from(secret)
    if not context.is_private():
        raise ValueError("this context holds no secret key")
    return context


def chunks_for(length: int) -> int:
    return max(1, math.ceil(length / SLOTS))


def encrypt(public: bytes, update: np.ndarray, weight: float) -> bytes:
    """`weight * update`, encrypted under the round's public key and framed for the round."""
    ts, context = _tenseal(), load_public(public)
    values = np.asarray(update, dtype=np.float64) * float(weight)
    parts = [
        ts.ckks_vector(context, values[i : i + SLOTS].tolist()).serialize()
        for i in range(0, max(len(values), 1), SLOTS)
    ]
    return _frame(fingerprint(public), parts)


def _frame(print_: bytes, parts: list[bytes]) -> bytes:
    body = b"".join(_LENGTH.pack(len(p)) + p for p in parts)
    return _HEADER.pack(_MAGIC, print_, len(parts)) + body


def _unframe(blob: bytes, print_: bytes, length: int) -> list[bytes]:
    if len(blob) < _HEADER.size or blob[:5] != _MAGIC:
        raise BadCiphertext("not a MedFed CKKS submission (wrong or missing header)")
    _, seen, count = _HEADER.unpack_from(blob)
    if seen != print_:
        raise BadCiphertext(
            "encrypted under another key (another round's or another context's public key)"
        )
    if count != chunks_for(length):
        raise BadCiphertext(
            f"{count} ciphertexts where a {length}-parameter update needs {chunks_for(length)}"
        )
    parts, offset = [], _HEADER.size
    for _ in range(count):
        if offset + _LENGTH.size > len(blob):
            raise BadCiphertext("the submission is cut short")
        (size,) = _LENGTH.unpack_from(blob, offset)
        offset += _LENGTH.size
        if size == 0 or offset + size > len(blob):
            raise BadCiphertext("the submission is cut short")
        parts.append(blob[offset : offset + size])
        offset += size
    if offset != len(blob):
        raise BadCiphertext("the submission has trailing bytes")
    return parts


def _vectors(context: Any, parts: list[bytes], length: int) -> list[Any]:
    ts = _tenseal()
    vectors = []
    for index, part in enumerate(parts):
        try:
            vector = ts.ckks_vector_from(context, part)
        except Exception as exc:
            raise BadCiphertext(f"ciphertext {index + 1} cannot be read ({exc})") from None
        expected = min(SLOTS, length - index * SLOTS)
        if vector.size() != expected:
            raise BadCiphertext(
                f"ciphertext {index + 1} holds {vector.size()} values, not {expected}"
            )
        vectors.append(vector)
    return vectors


def check(public: bytes, blob: bytes, length: int) -> None:
    """Raise BadCiphertext unless `blob` is a well-formed submission for this round."""
    _vectors(load_public(public), _unframe(blob, fingerprint(public), length), length)


def add(public: bytes, blobs: list[bytes], length: int) -> bytes:
    """The encrypted sum of the submissions, framed like one: what the server computes."""
    if not blobs:
        raise ValueError("nothing to add")
    context, print_ = load_public(public), fingerprint(public)
    total = _vectors(context, _unframe(blobs[0], print_, length), length)
    for blob in blobs[1:]:
        for index, vector in enumerate(_vectors(context, _unframe(blob, print_, length), length)):
            total[index] += vector
    return _frame(print_, [vector.serialize() for vector in total])


def decrypt(secret: bytes, public: bytes, blob: bytes, length: int) -> np.ndarray:
    """The plaintext of a (summed) submission: what a hospital holding the key computes."""
    context = _load_secret(secret)
    parts = _unframe(blob, fingerprint(public), length)
    values = [np.asarray(v.decrypt(), dtype=np.float64) for v in _vectors(context, parts, length)]
    return np.concatenate(values)[:length]
