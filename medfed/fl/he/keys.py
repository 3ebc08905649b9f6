"""The cohort's CKKS secret key, passed from the hospital that made it to each other hospital
of the round, sealed so that the server relaying it cannot read it: X25519 between the two
hospitals' round keys (the ones they advertise for secure aggregation), HKDF bound to the
round, ChaCha20-Poly1305 bound to the round and the recipient."""

from __future__ import annotations

from medfed.fl.secagg import crypto


def _key(private: bytes, peer_public: bytes, round_ref: str) -> bytes:
    return crypto.agree(private, peer_public, f"medfed-he-key|{round_ref}".encode())


def _bound(round_ref: str, recipient: int) -> bytes:
    return f"{round_ref}|{recipient}".encode()


def seal(
    holder_private: bytes,
    recipient_public: bytes,
    round_ref: str,
    recipient: int,
    secret: bytes,
    random_bytes: crypto.RandomBytes,
) -> bytes:
    key = _key(holder_private, recipient_public, round_ref)
    return crypto.encrypt(key, secret, _bound(round_ref, recipient), random_bytes)


def open_sealed(
    recipient_private: bytes, holder_public: bytes, round_ref: str, recipient: int, sealed: bytes
) -> bytes:
    """The secret context, or crypto.DecryptionFailed if it was not sealed for this hospital in
    this round."""
    key = _key(recipient_private, holder_public, round_ref)
    return crypto.decrypt(key, sealed, _bound(round_ref, recipient))
