from __future__ import annotations

from medfed.core.security import (
    API_TOKEN_PREFIX,
    csrf_token,
    csrf_token_matches,
    hash_password,
    hash_token,
    new_secret,
    password_problem,
    verify_password,
)


def test_password_hash_is_argon2_and_verifies() -> None:
    stored = hash_password("a very long passphrase")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a very long passphrase")
    assert not verify_password(stored, "a very long passphrasE")
    assert not verify_password(None, "anything at all")
    assert not verify_password("not-a-hash", "anything at all")


def test_secrets_are_unique_prefixed_and_stored_hashed() -> None:
    first, second = new_secret(API_TOKEN_PREFIX), new_secret(API_TOKEN_PREFIX)
    assert first != second and first.startswith(API_TOKEN_PREFIX)
    assert hash_token(first) != first and len(hash_token(first)) == 64


def test_password_rules() -> None:
    assert password_problem("short", "bob") is not None
    assert password_problem("alice-is-great-1", "alice") is not None
    assert password_problem("aaaaaaaaaaaa", "bob") is not None
    assert password_problem("tulip-harbour-71", "bob") is None


def test_csrf_tokens_are_bound_to_their_session() -> None:
    token = csrf_token("key", "session-a")
    assert csrf_token_matches("key", "session-a", token)
    assert not csrf_token_matches("key", "session-b", token)
    assert not csrf_token_matches("other-key", "session-a", token)
    assert not csrf_token_matches("key", "session-a", None)
    assert not csrf_token_matches("key", "", token)
