"""Logins with lockout, and the sessions and bearer tokens they issue."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.core.errors import AccountLocked, InvalidCredentials, TokenExpired, TokenInvalid
from medfed.core.security import (
    API_TOKEN_PREFIX,
    SESSION_PREFIX,
    hash_token,
    new_secret,
    verify_password,
)
from medfed.core.validation import normalise_username
from medfed.server.db.tables import AuthToken, User
from medfed.server.services import audit

TOKEN_PREFIXES = {"session": SESSION_PREFIX, "api": API_TOKEN_PREFIX}


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    user: User


def login(
    session: Session,
    settings: Settings,
    *,
    username: str,
    password: str,
    kind: str,
    client: str,
) -> IssuedToken:
    """Check a password and issue a token of `kind` ('session' or 'api').

    Failures are committed (audit row, failure counter) before the error is raised, so that
    the caller's rollback cannot erase the evidence.
    """
    now = utcnow()
    name = normalise_username(username)
    user = session.scalar(select(User).where(User.username == name))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        seconds = math.ceil((user.locked_until - now).total_seconds())
        _record_failure(session, user, client, reason="account locked")
        raise AccountLocked(
            f"This account is locked after {settings.login_max_failures} failed logins. "
            f"Try again in {math.ceil(seconds / 60)} minute(s) or ask an administrator.",
            retry_after=seconds,
        )
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        reason = (
            "unknown user"
            if user is None
            else ("account disabled" if password_ok else "wrong password")
        )
        if user is not None and not password_ok:
            _count_failure(session, user, settings, now)
        _record_failure(session, user, client, reason=reason)
        raise InvalidCredentials("Wrong username or password.")
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    issued = issue_token(session, user, kind=kind, settings=settings)
    audit.record(
        session,
        actor=audit.user_actor(user.username),
        action=AuditAction.LOGIN,
        object=f"user:{user.username}",
        details={"kind": kind, "client": client},
    )
    return issued


def _count_failure(session: Session, user: User, settings: Settings, now: datetime) -> None:
    # One atomic UPDATE, so that concurrent wrong guesses are all counted.
    count = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_login_count=User.failed_login_count + 1)
        .returning(User.failed_login_count)
    ).scalar_one()
    if count >= settings.login_max_failures:
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(
                failed_login_count=0,
                locked_until=now + timedelta(minutes=settings.login_lockout_minutes),
            )
        )


def _record_failure(session: Session, user: User | None, client: str, *, reason: str) -> None:
    # The attempted name is kept only when it is a real account: people type passwords there.
    audit.record(
        session,
        actor=audit.user_actor(user.username) if user else audit.ANONYMOUS_ACTOR,
        action=AuditAction.LOGIN,
        object=f"user:{user.username}" if user else None,
        outcome=Outcome.FAILURE,
        details={"reason": reason, "client": client},
    )
    session.commit()


def issue_token(session: Session, user: User, *, kind: str, settings: Settings) -> IssuedToken:
    minutes = settings.session_ttl_minutes if kind == "session" else settings.api_token_ttl_minutes
    token = new_secret(TOKEN_PREFIXES[kind])
    expires_at = utcnow() + timedelta(minutes=minutes)
    session.add(
        AuthToken(token_hash=hash_token(token), user_id=user.id, kind=kind, expires_at=expires_at)
    )
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, user=user)


def resolve_token(session: Session, token: str, *, kind: str) -> tuple[User, AuthToken]:
    """The active user behind a token, or an authentication error saying why not."""
    if not token.startswith(TOKEN_PREFIXES[kind]):
        raise TokenInvalid("The token is not valid. Log in again to get a new one.")
    row = session.scalar(select(AuthToken).where(AuthToken.token_hash == hash_token(token)))
    if row is None or row.kind != kind or row.revoked_at is not None:
        raise TokenInvalid("The token is not valid. Log in again to get a new one.")
    if row.expires_at <= utcnow():
        raise TokenExpired("The token has expired. Log in again to get a new one.")
    if not row.user.is_active:
        raise TokenInvalid("The account behind this token is disabled.")
    return row.user, row


def revoke(session: Session, token_row: AuthToken, *, client: str) -> None:
    token_row.revoked_at = utcnow()
    audit.record(
        session,
        actor=audit.user_actor(token_row.user.username),
        action=AuditAction.LOGOUT,
        object=f"user:{token_row.user.username}",
        details={"kind": token_row.kind, "client": client},
    )


def revoke_by_token(session: Session, token: str, *, client: str) -> None:
    """Sign out: revoke the token if it is still live; unknown tokens need nothing done."""
    row = session.scalar(select(AuthToken).where(AuthToken.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        revoke(session, row, client=client)
