"""Request dependencies: database session, settings, and who is asking (written once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.config import Settings
from medfed.core.errors import PermissionDenied, TokenInvalid, TooManyRequests
from medfed.core.security import NODE_CREDENTIAL_PREFIX, SESSION_PREFIX
from medfed.server.bounds import IdPath
from medfed.server.db.engine import transaction
from medfed.server.db.group_commit import GroupCommit
from medfed.server.db.read_line import ReadLine
from medfed.server.db.tables import AuthToken, Hospital, User
from medfed.server.services import accounts, audit, auth, enrollment

SESSION_COOKIE = "medfed_session"
T = TypeVar("T")


# Dependencies that only read the app's state are `async`: FastAPI runs a plain `def`
# dependency on a worker thread, a hop (and a wait for the interpreter lock) per request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# Ending a session must never queue behind route handlers for a worker thread: those handlers
# may themselves be waiting for the write lock this session holds.
_ENDINGS = anyio.CapacityLimiter(256)


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _roll_back(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


class DatabaseGate:
    """How many requests may hold a database session at once, waited for in the event loop.

    Without it, a burst of requests each takes a worker thread and a connection and then waits
    inside the database for a lock (SQLite's single writer; on PostgreSQL the audit chain's
    head row), while the request holding that lock needs a free worker thread for its next
    step: every request stalls until a timeout. With fewer sessions than worker threads and
    pooled connections, the holder always finds both. Queuing is first come, first served.
    Created on first use, inside the server's event loop."""

    def __init__(self, sessions: int) -> None:
        self.sessions = sessions
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.sessions)
        return self._limiter


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session per request: committed when the route returns, rolled back on any error.

    Requests take their turn at the gate first. The ending runs shielded from cancellation and
    on its own worker threads, so a client that hangs up, or a burst that fills the thread
    pool, can never leave a transaction (and its locks) open."""
    gate: DatabaseGate = request.app.state.db_gate
    async with gate.limiter:
        session: Session = request.app.state.session_factory()
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_roll_back, session, limiter=_ENDINGS)
            raise
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_commit, session, limiter=_ENDINGS)


class Reader:
    """Short read-only units of work (db/engine.make_read_engine) run on the event loop's own
    thread: `lookup` on the thread's read connection (db/read_line.py), `run` on a session of
    its own given back at once.

    A unit is two or three indexed lookups (well under a millisecond on SQLite, a loopback round
    trip or two on PostgreSQL), cheaper than handing it to a worker thread and back; and a
    thread waiting for the interpreter lock beside a busy event loop is what made slow
    requests slow. Nothing here waits for a lock: reads never take the write lock, and the
    event loop runs one unit at a time, so the readers' pool is never exhausted."""

    def __init__(self, request: Request) -> None:
        self._factory: sessionmaker[Session] = request.app.state.read_factory
        self._line: ReadLine = request.app.state.read_line

    async def lookup(self, work: Callable[[Connection], T]) -> T:
        """One statement, on every request: plain rows, no session, no ORM (each statement
        reads the latest committed state; several would share no snapshot). On the loop's own
        thread, or awaited on the line's threads where the database is another process."""
        if self._line.pool is None:
            return self._line.run(work)
        return await asyncio.wrap_future(self._line.pool.submit(self._line.run, work))

    async def run(self, work: Callable[[Session], T]) -> T:
        return self._unit(work)

    async def run_on_thread(self, work: Callable[[Session], T]) -> T:
        """For a unit of more than a few lookups, which would hold up the event loop."""
        return await anyio.to_thread.run_sync(self._unit, work)

    def _unit(self, work: Callable[[Session], T]) -> T:
        # Closing ends the read transaction and detaches what was loaded, unexpired, for the
        # request to keep using (a rollback would expire it).
        with self._factory() as session:
            return work(session)


async def get_group_commit(request: Request) -> GroupCommit:
    writer: GroupCommit = request.app.state.group_commit
    return writer


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_db, scope="function")]


async def reader(request: Request) -> Reader:
    return Reader(request)


Reading = Annotated[Reader, Depends(reader)]
GroupCommitDep = Annotated[GroupCommit, Depends(get_group_commit)]


class GatedUnits:
    """Short units of work, each in its own session taken at the gate and committed at once.

    For a route that does slow work between its reads and writes (a password hash) and must
    not hold a database session, on SQLite the only one, while it does. Called from the
    route's worker thread."""

    def __init__(self, request: Request) -> None:
        self._gate: DatabaseGate = request.app.state.db_gate
        self._factory: sessionmaker[Session] = request.app.state.session_factory

    def __call__(self, work: Callable[[Session], T]) -> T:
        return anyio.from_thread.run(self.run, work)

    async def run(self, work: Callable[[Session], T]) -> T:
        """The same from the event loop."""
        async with self._gate.limiter:
            with anyio.CancelScope(shield=True):
                result = await anyio.to_thread.run_sync(self._unit, work, limiter=_ENDINGS)
        return result

    def _unit(self, work: Callable[[Session], T]) -> T:
        with transaction(self._factory) as session:
            return work(session)


Units = Annotated[GatedUnits, Depends(GatedUnits)]

# Password checks run on at most this many threads at once, taken from their own limiter: a
# burst of logins (an attack) then waits in the event loop instead of occupying the worker
# threads every other request, /readyz included, needs.
_LOGINS = anyio.CapacityLimiter(2)


async def in_login_slot(work: Callable[[], T]) -> T:
    """Run a login flow (sync: it calls `GatedUnits`) on a thread of the logins' own limiter."""
    return await anyio.to_thread.run_sync(work, limiter=_LOGINS)


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


async def login_rate_limit(request: Request, client: ClientAddress) -> None:
    """Login attempts per address, counted in the database by every server process."""
    throttle = request.app.state.login_throttle
    wait = await GatedUnits(request).run(lambda session: throttle.hit(session, client))
    if wait:
        raise TooManyRequests(
            f"Too many login attempts from this address. Wait {wait} seconds.", retry_after=wait
        )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# Declared for the OpenAPI description (security schemes, the /docs Authorize button); the
# header itself is read by `_bearer`, so every error keeps MedFed's own shape and wording.
OAUTH2 = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    scheme_name="OAuth2",
    description="Username and password for a bearer token (POST /api/v1/auth/token).",
    auto_error=False,
)
NODE_BEARER = HTTPBearer(
    scheme_name="NodeCredential",
    description="An enrolled node's credential (medfed node enroll), as a bearer token.",
    auto_error=False,
)


def _required_bearer(request: Request) -> str:
    token = _bearer(request)
    if token is None:
        raise TokenInvalid(
            "This endpoint needs a bearer token: POST /api/v1/auth/token, then send "
            "'Authorization: Bearer <token>'."
        )
    return token


def _api_token(
    request: Request, db: DbSession, _: Annotated[str | None, Depends(OAUTH2)]
) -> tuple[User, AuthToken]:
    token = _required_bearer(request)
    return auth.resolve_token(db, token, kind="api")


async def _read_api_caller(
    request: Request, reader: Reading, _: Annotated[str | None, Depends(OAUTH2)]
) -> auth.Caller:
    token = _required_bearer(request)
    return await reader.lookup(lambda db: auth.resolve_caller(db, token, kind="api"))


def current_api_user(pair: Annotated[tuple[User, AuthToken], Depends(_api_token)]) -> User:
    return pair[0]


def current_api_token(pair: Annotated[tuple[User, AuthToken], Depends(_api_token)]) -> AuthToken:
    return pair[1]


CurrentUser = Annotated[User, Depends(current_api_user)]
CurrentToken = Annotated[AuthToken, Depends(current_api_token)]


def deny(db: Session, user: User, request: Request, message: str) -> PermissionDenied:
    """Audit a refused access (committed, so it survives the error) and return the error."""
    audit.append(db, [_denied(user, request)])
    db.commit()
    return PermissionDenied(message)


def _denied(user: User | auth.Caller, request: Request) -> audit.Entry:
    """The audit entry of a refused access."""
    return audit.Entry(
        actor=audit.user_actor(user.username),
        action=AuditAction.ACCESS_DENIED,
        object=f"{request.method} {request.url.path}",
        outcome=Outcome.DENIED,
        details={"role": user.role},
    )


def _needs(roles: tuple[str, ...], user: User | auth.Caller) -> str:
    return f"This needs the role {' or '.join(roles)}; you are a {user.role}."


def require_role(*roles: str) -> Callable[..., User]:
    def dependency(user: CurrentUser, db: DbSession, request: Request) -> User:
        if user.role not in roles:
            raise deny(db, user, request, _needs(roles, user))
        return user

    return dependency


def require_role_reading(*roles: str) -> Callable[..., Awaitable[auth.Caller]]:
    """`require_role` for read-only routes: the caller is read on the event loop's read
    connection, and a refusal is audited through the group-commit thread, on disk before the
    error is sent."""

    async def dependency(
        user: Annotated[auth.Caller, Depends(_read_api_caller)],
        writer: GroupCommitDep,
        request: Request,
    ) -> auth.Caller:
        if user.role not in roles:
            await asyncio.wrap_future(writer.submit(audit.ENTRIES, _denied(user, request)))
            raise PermissionDenied(_needs(roles, user))
        return user

    return dependency


# Who trains: campaigns, rounds, versions (promote, roll back, A/B), metrics, privacy spend.
# Users, hospitals, enrollment, plain mode and the audit trail stay with administrators.
TRAINING_ROLES = ("admin", "data_scientist")

AdminUser = Annotated[User, Depends(require_role("admin"))]
ScienceUser = Annotated[User, Depends(require_role(*TRAINING_ROLES))]
ReadingScience = Annotated[auth.Caller, Depends(require_role_reading(*TRAINING_ROLES))]
StaffOrAdmin = Annotated[User, Depends(require_role("admin", "hospital"))]
Clinician = Annotated[User, Depends(require_role("doctor", "admin"))]
ModelUser = Annotated[User, Depends(require_role("doctor", *TRAINING_ROLES))]
ReadingClinician = Annotated[auth.Caller, Depends(require_role_reading("doctor", "admin"))]
ReadingAdmin = Annotated[auth.Caller, Depends(require_role_reading("admin"))]


def check_plain_mode(user: User, secure: bool, db: Session, request: Request) -> None:
    """Plain mode lets the server see each hospital's update: an administrator's decision."""
    if not secure and user.role != "admin":
        raise deny(
            db,
            user,
            request,
            "Plain mode lets the server see each hospital's update, so only an administrator "
            "may choose it; leave secure aggregation on.",
        )


def owned_hospital(
    hospital_id: IdPath, user: StaffOrAdmin, db: DbSession, request: Request
) -> Hospital:
    """The hospital in the path, if the user is an admin or works there."""
    return _visible_hospital(hospital_id, user, db, request)


def _visible_hospital(hospital_id: int, user: User, db: Session, request: Request) -> Hospital:
    """The hospital in the path; hospital staff may see only their own (the route's role check
    decides who else may)."""
    hospital = accounts.get_hospital(db, hospital_id)
    if user.role == "hospital" and user.hospital_id != hospital.id:
        raise deny(db, user, request, "Hospital staff can see only their own hospital's records.")
    return hospital


OwnedHospital = Annotated[Hospital, Depends(owned_hospital)]
SpendReader = Annotated[User, Depends(require_role(*TRAINING_ROLES, "hospital"))]


def spending_hospital(
    hospital_id: IdPath, user: SpendReader, db: DbSession, request: Request
) -> Hospital:
    """The hospital in the path, for its privacy spend: those who train see every hospital's,
    its staff their own."""
    return _visible_hospital(hospital_id, user, db, request)


SpendingHospital = Annotated[Hospital, Depends(spending_hospital)]


def _node_credential(request: Request) -> str:
    credential = _bearer(request)
    if credential is None or not credential.startswith(NODE_CREDENTIAL_PREFIX):
        raise TokenInvalid(
            "This endpoint is for enrolled nodes: send the node credential as a bearer token."
        )
    return credential


async def current_node(
    request: Request,
    reader: Reading,
    writer: GroupCommitDep,
    _: Annotated[object, Depends(NODE_BEARER)],
) -> enrollment.NodeCaller:
    """The enrolled, unrevoked node behind the request's credential, read afresh as plain values
    on the read line (a node's every request runs this). "Last seen", when it is older than its
    resolution, is group-committed before the route runs; a write per request would put the
    single SQLite writer on every poll's path for a column shown to the minute."""
    node = await _node_caller(request, reader)
    certificates = request.app.state.node_certificates
    enrollment.check_presented_certificate(
        node, certificates.presented(request.scope), required=certificates.required(request.scope)
    )
    if enrollment.seen_is_stale(node):
        await asyncio.wrap_future(writer.submit(enrollment.SEEN, node.id))
    return node


CurrentNode = Annotated[enrollment.NodeCaller, Depends(current_node)]


async def _node_caller(request: Request, reader: Reader) -> enrollment.NodeCaller:
    credential = _node_credential(request)
    return await reader.lookup(lambda db: enrollment.resolve_node_caller(db, credential))


async def certificate_holder(
    request: Request, reader: Reading, _: Annotated[object, Depends(NODE_BEARER)]
) -> tuple[enrollment.NodeCaller, bool]:
    """The node asking for a certificate, and whether it presented one: a node without one may
    ask by its credential alone (the route allows that only for its first certificate)."""
    node = await _node_caller(request, reader)
    certificates = request.app.state.node_certificates
    identity = certificates.presented(request.scope)
    enrollment.check_presented_certificate(node, identity, required=False)
    return node, identity is not None


CertificateHolder = Annotated[tuple[enrollment.NodeCaller, bool], Depends(certificate_holder)]


def session_token(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    return value if value and value.startswith(SESSION_PREFIX) else None
