"""Logins with lockout, and the sessions and bearer tokens they issue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session, joinedload

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.core.errors import InvalidCredentials, TokenExpired, TokenInvalid
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
T = TypeVar("T")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    user: User


class Units(Protocol):
    """Runs one unit of work in a short session of its own (`deps.GatedUnits`)."""

    def __call__(self, work: Callable[[Session], T]) -> T: ...


class Guard(Protocol):
    """Failed logins per account and address, counted in the database (`throttle.Throttle`)."""

    def blocked(self, session: Session, name: str, address: str) -> bool: ...
    def failed(self, session: Session, name: str, address: str) -> None: ...
    def succeeded(self, session: Session, name: str, address: str) -> None: ...


@dataclass(frozen=True)
class Account:
    """What the password check needs, read in a short transaction."""

    id: int
    username: str
    password_hash: str
    active: bool


WRONG = "Wrong username or password."


def login(
    units: Units,
    guard: Guard,
    settings: Settings,
    *,
    username: str,
    password: str,
    kind: str,
    client: str,
) -> IssuedToken:
    """Check a password and issue a token of `kind` ('session' or 'api').

    The database is held only for two short steps, never during the deliberately slow password
    hash, so failed logins cannot starve other requests. Every failure gets the same answer
    (unknown name, wrong password, disabled account, or a name that failed too often from this
    address), so the answers never tell which accounts exist; the audit trail keeps the reason.
    """
    name = normalise_username(username)
    account, blocked = units(
        lambda session: (_account(session, name), guard.blocked(session, name, client))
    )
    if blocked:
        units(lambda session: _record_failure(session, account, client, "too many failures"))
        raise InvalidCredentials(WRONG)
    password_ok = verify_password(account.password_hash if account else None, password)
    if account is None or not password_ok or not account.active:
        reason = (
            "unknown user"
            if account is None
            else ("account disabled" if password_ok else "wrong password")
        )

        def fail(session: Session) -> None:
            if not password_ok:
                guard.failed(session, name, client)
            _record_failure(session, account, client, reason)

        units(fail)
        raise InvalidCredentials(WRONG)

    def complete(session: Session) -> IssuedToken:
        guard.succeeded(session, name, client)
        return _complete(session, account.id, kind, settings, client)

    return units(complete)


def _account(session: Session, name: str) -> Account | None:
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        return None
    return Account(user.id, user.username, user.password_hash, user.is_active)


def _complete(
    session: Session, user_id: int, kind: str, settings: Settings, client: str
) -> IssuedToken:
    user = session.get(User, user_id)
    if user is None or not user.is_active:  # removed or disabled during the password check
        raise InvalidCredentials(WRONG)
    user.last_login_at = utcnow()
    issued = issue_token(session, user, kind=kind, settings=settings)
    audit.record(
        session,
        actor=audit.user_actor(user.username),
        action=AuditAction.LOGIN,
        object=f"user:{user.username}",
        details={"kind": kind, "client": client},
    )
    return issued


def _record_failure(session: Session, account: Account | None, client: str, reason: str) -> None:
    # The attempted name is kept only when it is a real account: people type passwords there.
    audit.record(
        session,
        actor=audit.user_actor(account.username) if account else audit.ANONYMOUS_ACTOR,
        action=AuditAction.LOGIN,
        object=f"user:{account.username}" if account else None,
        outcome=Outcome.FAILURE,
        details={"reason": reason, "client": client},
    )


def issue_token(session: Session, user: User, *, kind: str, settings: Settings) -> IssuedToken:
    minutes = settings.session_ttl_minutes if kind == "session" else settings.api_token_ttl_minutes
    token = new_secret(TOKEN_PREFIXES[kind])
    expires_at = utcnow() + timedelta(minutes=minutes)
    session.add(
        AuthToken(token_hash=hash_token(token), user_id=user.id, kind=kind, expires_at=expires_at)
    )
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, user=user)


# Built once (every request runs it): the token and its user in one query.
_TOKEN_AND_USER = (
    select(AuthToken)
    .where(AuthToken.token_hash == bindparam("token_hash"))
    .options(joinedload(AuthToken.user))
)


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as a read-only route needs it: no ORM instance to build or track."""

    id: int
    username: str
    role: str
    hospital_id: int | None


# The same lookup as columns, for the hot read path (db/read_line.py).
_CALLER = (
    select(
        AuthToken.kind,
        AuthToken.expires_at,
        AuthToken.revoked_at,
        User.id,
        User.username,
        User.role,
        User.hospital_id,
        User.is_active,
    )
    .join(User, User.id == AuthToken.user_id)
    .where(AuthToken.token_hash == bindparam("token_hash"))
)


def resolve_token(session: Session, token: str, *, kind: str) -> tuple[User, AuthToken]:
    """The active user behind a token, or an authentication error saying why not."""
    _check_prefix(token, kind)
    row = session.scalar(_TOKEN_AND_USER, {"token_hash": hash_token(token)})
    if row is None:
        raise _invalid()
    _check(kind, row.kind, row.revoked_at, row.expires_at, row.user.is_active)
    return row.user, row


def resolve_caller(connection: Connection, token: str, *, kind: str) -> Caller:
    """`resolve_token` as plain values, read afresh (a revocation applies at once)."""
    _check_prefix(token, kind)
    row = connection.execute(_CALLER, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise _invalid()
    _check(kind, row.kind, row.revoked_at, row.expires_at, row.is_active)
    return Caller(row.id, row.username, row.role, row.hospital_id)


def _invalid() -> TokenInvalid:
    return TokenInvalid("The token is not valid. Log in again to get a new one.")


def _check_prefix(token: str, kind: str) -> None:
    if not token.startswith(TOKEN_PREFIXES[kind]):
        raise _invalid()


def _check(
    kind: str, row_kind: str, revoked_at: datetime | None, expires_at: datetime, active: bool
) -> None:
    if row_kind != kind or revoked_at is not None:
        raise _invalid()
    if expires_at <= utcnow():
        raise TokenExpired("The token has expired. Log in again to get a new one.")
    if not active:
        raise TokenInvalid("The account behind this token is disabled.")


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
