"""One-time enrollment tokens for hospitals, exchanged by their nodes for a credential."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from medfed.core import pki
from medfed.core.audit_actions import AuditAction, Outcome
from medfed.core.clock import as_utc, isoformat, utcnow
from medfed.core.errors import (
    AuthenticationFailed,
    CertificateRequired,
    Conflict,
    EnrollmentRefused,
    HospitalInactive,
    NodeRevoked,
    TokenInvalid,
)
from medfed.core.security import (
    ENROLLMENT_PREFIX,
    NODE_CREDENTIAL_PREFIX,
    PIN_SEPARATOR,
    hash_token,
    new_secret,
    split_enrollment_token,
)
from medfed.core.validation import validate_display_name
from medfed.server.db.group_commit import BatchWriter
from medfed.server.db.tables import EnrollmentToken, Hospital, Node
from medfed.server.services import audit, authority

REVOKED_HINT = (
    "Ask your MedFed administrator for a new enrollment token and run `medfed node enroll` again."
)
NEW_TOKEN_HINT = (
    "Ask your MedFed administrator for a new one (`medfed admin enrollment-token HOSPITAL`)."
)


@dataclass(frozen=True)
class IssuedEnrollmentToken:
    token: str
    hospital: Hospital
    expires_at_iso: str


@dataclass(frozen=True)
class EnrolledNode:
    node: Node
    credential: str
    certificate: authority.IssuedCertificate | None = None


def create_enrollment_token(
    session: Session,
    hospital: Hospital,
    *,
    ttl_hours: int,
    actor: str,
    authority_fingerprint: str | None = None,
) -> IssuedEnrollmentToken:
    """A one-time token; with `authority_fingerprint` it also pins the network's certificate
    authority for the node that uses it (the part after the dot; only the secret is stored)."""
    if not hospital.is_active:
        raise Conflict(
            f"{hospital.name} is deactivated; reactivate it before enrolling a node.",
            field="hospital",
        )
    token = new_secret(ENROLLMENT_PREFIX)
    expires_at = utcnow() + timedelta(hours=ttl_hours)
    row = EnrollmentToken(
        hospital_id=hospital.id, token_hash=hash_token(token), expires_at=expires_at
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.ENROLLMENT_TOKEN_CREATED,
        object=f"hospital:{hospital.id}",
        details={"token_id": row.id, "expires_at": isoformat(expires_at)},
    )
    if authority_fingerprint:
        token += PIN_SEPARATOR + authority_fingerprint
    return IssuedEnrollmentToken(
        token=token, hospital=hospital, expires_at_iso=isoformat(expires_at)
    )


def enroll_node(
    session: Session,
    token: str,
    *,
    node_name: str,
    software_version: str,
    client: str,
    certificate_request: str | None = None,
    network_authority: pki.Authority | None = None,
    certificate_days: int = 30,
) -> EnrolledNode:
    """Exchange a one-time token for a node credential and, given the node's certificate
    request, a client certificate bound to the new node; refusals are committed to the audit."""
    name = validate_display_name(node_name, field="node_name")
    if certificate_request is not None:
        pki.load_request(certificate_request)  # a bad request must not use up the token
    now = utcnow()
    secret, _ = split_enrollment_token(token)
    row = session.scalar(
        select(EnrollmentToken).where(EnrollmentToken.token_hash == hash_token(secret))
    )
    if row is None:
        _refuse(session, None, client, "unknown token")
        raise EnrollmentRefused(
            f"This enrollment token is not known to the server. {NEW_TOKEN_HINT}"
        )
    if row.used_at is not None:
        _refuse(session, row, client, "token already used")
        raise EnrollmentRefused(
            f"This enrollment token was already used on {isoformat(row.used_at)[:19]} UTC; "
            f"each token enrolls one node once. {NEW_TOKEN_HINT}"
        )
    if row.expires_at <= now:
        _refuse(session, row, client, "token expired")
        raise EnrollmentRefused(
            f"This enrollment token expired on {isoformat(row.expires_at)[:19]} UTC. {NEW_TOKEN_HINT}"
        )
    hospital = session.get(Hospital, row.hospital_id)
    if hospital is None or not hospital.is_active:
        _refuse(session, row, client, "hospital deactivated")
        raise EnrollmentRefused(
            "This enrollment token's hospital is deactivated on this network; "
            "ask your MedFed administrator to reactivate it."
        )
    credential = new_secret(NODE_CREDENTIAL_PREFIX)
    node = Node(
        hospital_id=row.hospital_id,
        name=name,
        credential_hash=hash_token(credential),
        software_version=software_version[:40],
        last_seen_at=now,
    )
    session.add(node)
    session.flush()
    # Claim the token atomically: of two nodes racing with one token, exactly one wins.
    claimed = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == row.id, EnrollmentToken.used_at.is_(None))
        .values(used_at=now, used_by_node_id=node.id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise EnrollmentRefused(
            f"This enrollment token was just used by another node. {NEW_TOKEN_HINT}"
        )
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.NODE_ENROLLED,
        object=f"hospital:{row.hospital_id}",
        details={"node_name": name, "software_version": node.software_version, "client": client},
    )
    issued = None
    if certificate_request is not None and network_authority is not None:
        issued = authority.issue_for_node(
            session,
            network_authority,
            node,
            certificate_request,
            days=certificate_days,
            renewal=False,
        )
    return EnrolledNode(node=node, credential=credential, certificate=issued)


def _refuse(session: Session, row: EnrollmentToken | None, client: str, reason: str) -> None:
    audit.record(
        session,
        actor=audit.ANONYMOUS_ACTOR,
        action=AuditAction.NODE_ENROLLED,
        object=f"hospital:{row.hospital_id}" if row else None,
        outcome=Outcome.FAILURE,
        details={"reason": reason, "client": client},
    )
    session.commit()


class NodeRef(Protocol):
    """Which node a request is from: an enrolled `Node`, or a credential's `NodeCaller`."""

    @property
    def id(self) -> int: ...
    @property
    def hospital_id(self) -> int: ...


@dataclass(frozen=True)
class NodeCaller:
    """The node behind a credential, as plain values read afresh on each request (a
    revocation applies to the next request)."""

    id: int
    hospital_id: int
    last_seen_at: datetime | None


_CALLER = (
    select(
        Node.id,
        Node.hospital_id,
        Node.last_seen_at,
        Node.revoked_at,
        Hospital.is_active,
        Hospital.name,
    )
    .join(Hospital, Hospital.id == Node.hospital_id)
    .where(Node.credential_hash == bindparam("credential_hash"))
)


def resolve_node_caller(connection: Connection, credential: str) -> NodeCaller:
    """The enrolled, unrevoked node of an active hospital behind a credential, in one statement
    (a node's every request runs it, so a revocation applies to the very next request)."""
    _check_prefix(credential)
    row = connection.execute(_CALLER, {"credential_hash": hash_token(credential)}).first()
    if row is None:
        raise _revoked()
    if row.revoked_at is not None:
        raise NodeRevoked(
            f"This node was revoked by an administrator on {isoformat(row.revoked_at)[:16]} "
            f"UTC. {REVOKED_HINT}"
        )
    if not row.is_active:
        raise HospitalInactive(
            f"{row.name} is deactivated on this network; its nodes are refused until an "
            "administrator reactivates it."
        )
    return NodeCaller(row.id, row.hospital_id, row.last_seen_at)


def check_presented_certificate(
    node: NodeCaller, identity: pki.NodeIdentity | None, *, required: bool
) -> None:
    """The credential and the client certificate must name the same node; without a
    certificate, only where mutual TLS is not required."""
    if identity is not None:
        if identity.node_id != node.id or identity.hospital_id != node.hospital_id:
            raise AuthenticationFailed(
                f"The client certificate is node {identity.node_id}'s but the credential is node "
                f"{node.id}'s; a node must present its own certificate with its own credential."
            )
        return
    if required:
        raise CertificateRequired(
            "This server requires the node's client certificate (mutual TLS) with its "
            "credential. A node enrolled before certificates were issued gets one with "
            "`medfed node renew-certificate`; otherwise enroll again with "
            "`medfed node enroll --force`."
        )


def _check_prefix(credential: str) -> None:
    if not credential.startswith(NODE_CREDENTIAL_PREFIX):
        raise TokenInvalid("The node credential is not valid. Enroll the node again.")


def _revoked() -> TokenInvalid:
    return TokenInvalid("The node credential is not valid or was revoked. Enroll the node again.")


# How stale "last seen" may get before a read-only request writes it again: a node long-polls
# every few seconds while it works through a round, and a write per poll would put the single
# SQLite writer on every poll's path for a column shown to the minute.
SEEN_RESOLUTION = timedelta(seconds=15)


def seen_is_stale(node: NodeCaller, now: datetime | None = None) -> bool:
    """Whether a read-only request by this node should record that it was seen."""
    if node.last_seen_at is None:
        return True
    return (now or utcnow()) - as_utc(node.last_seen_at) >= SEEN_RESOLUTION


def _write_seen(session: Session, node_ids: Sequence[int]) -> list[None]:
    session.execute(update(Node).where(Node.id.in_(set(node_ids))).values(last_seen_at=utcnow()))
    return [None] * len(node_ids)


# "This node was seen", for routes that read on a read-only session (group-committed).
SEEN: BatchWriter[int, None] = BatchWriter("nodes seen", _write_seen)
