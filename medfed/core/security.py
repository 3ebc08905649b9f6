"""Secret generation, token hashing, password hashing and CSRF tokens (no I/O)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Prefixes tell a reader (and a secret scanner) what a leaked string is.
SESSION_PREFIX = "mfs_"
API_TOKEN_PREFIX = "mfa_"
ENROLLMENT_PREFIX = "mfe_"
NODE_CREDENTIAL_PREFIX = "mfn_"

_password_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username does not exist, so timing does not reveal which
    usernames do (made on first need rather than at import: it costs one Argon2 hash)."""
    return _password_hasher.hash(secrets.token_urlsafe(16))


MIN_PASSWORD_LENGTH = 10


def new_secret(prefix: str) -> str:
    """A random bearer secret with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


# An enrollment token may end with ".<fingerprint>": the SHA-256 of the network's certificate
# authority, which the node then trusts from its first contact (no trust-on-first-use gap).
PIN_SEPARATOR = "."


def split_enrollment_token(token: str) -> tuple[str, str | None]:
    """An enrollment token's secret and the authority fingerprint it pins, if any."""
    secret, _, pin = token.strip().partition(PIN_SEPARATOR)
    return secret, (pin.lower() or None)


def hash_token(token: str) -> str:
    """Tokens are stored only as SHA-256 digests; they carry enough entropy not to need a KDF."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work check; a missing hash still costs one Argon2 verification."""
    try:
        return _password_hasher.verify(password_hash or _dummy_hash(), password) and (
            password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters long"
    if username and username.lower() in password.lower():
        return "must not contain the username"
    if len(set(password)) < 4:
        return "is too repetitive; use a passphrase or a password manager"
    return None


def csrf_token(secret_key: str, binding: str) -> str:
    """A CSRF token bound to a session (or pre-session nonce) with HMAC-SHA256."""
    digest = hmac.new(secret_key.encode(), b"csrf:" + binding.encode(), hashlib.sha256)
    return digest.hexdigest()


def csrf_token_matches(secret_key: str, binding: str, presented: str | None) -> bool:
    if not presented or not binding:
        return False
    return hmac.compare_digest(csrf_token(secret_key, binding), presented)
