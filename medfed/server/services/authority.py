"""The network's certificate authority, kept in the database, and the certificates it issues.

One row holds the authority: its certificate and its private key sealed (Fernet) with a key
derived from the server's secret key. Every server process of a network shares the database
and the secret key, so all of them sign with the same authority; whichever starts first creates
it (the single-row constraint makes a race end with one authority).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from medfed.core import pki
from medfed.core.audit_actions import AuditAction
from medfed.core.clock import isoformat, utcnow
from medfed.core.errors import ConfigurationError
from medfed.server.db.tables import CertificateAuthority, Hospital, Node, NodeCertificate
from medfed.server.services import audit

NETWORK_NAME = "MedFed network"


def _sealer(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"medfed certificate authority"
    ).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


def load_or_create(session: Session, secret_key: str) -> pki.Authority:
    """The network's authority, created on first need."""
    row = session.get(CertificateAuthority, 1)
    if row is None:
        authority = pki.new_authority(NETWORK_NAME, utcnow())
        sealed = _sealer(secret_key).encrypt(pki.key_pem(authority.key).encode("ascii"))
        try:
            with session.begin_nested():
                session.add(
                    CertificateAuthority(
                        id=1,
                        certificate_pem=authority.pem,
                        sealed_key=sealed.decode("ascii"),
                        fingerprint=authority.fingerprint,
                    )
                )
            return authority
        except IntegrityError:  # another process created it first: use theirs
            row = session.get(CertificateAuthority, 1)
            assert row is not None
    try:
        key = _sealer(secret_key).decrypt(row.sealed_key.encode("ascii"))
    except InvalidToken:
        raise ConfigurationError(
            "The network's certificate authority cannot be opened with this MEDFED_SECRET_KEY. "
            "Every server of a network must use the same secret key as the one that created it."
        ) from None
    return pki.Authority(pki.load_certificate_pem(row.certificate_pem), pki.load_key_pem(key))


class AuthorityHolder:
    """The authority, loaded once per process on first need."""

    def __init__(self, factory: sessionmaker[Session], secret_key: str) -> None:
        self._factory, self._secret_key = factory, secret_key
        self._authority: pki.Authority | None = None
        self._lock = threading.Lock()

    def get(self) -> pki.Authority:
        if self._authority is None:
            with self._lock:
                if self._authority is None:
                    with self._factory() as session, session.begin():
                        self._authority = load_or_create(session, self._secret_key)
        return self._authority


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_pem: str
    authority_pem: str
    serial: str
    expires_at: datetime


def issue_for_node(
    session: Session,
    authority: pki.Authority,
    node: Node,
    request_pem: str,
    *,
    days: int,
    renewal: bool,
) -> IssuedCertificate:
    """Sign a node's certificate request (checked) with a certificate bound to the node and its
    hospital, record it and audit it."""
    request = pki.load_request(request_pem)
    hospital = session.get(Hospital, node.hospital_id)
    assert hospital is not None
    certificate = pki.issue_node_certificate(
        authority,
        request,
        node_id=node.id,
        hospital_id=node.hospital_id,
        hospital_name=hospital.name,
        now=utcnow(),
        days=days,
    )
    serial = format(certificate.serial_number, "x")
    session.add(
        NodeCertificate(
            node_id=node.id,
            serial=serial,
            fingerprint=pki.fingerprint(certificate),
            expires_at=certificate.not_valid_after_utc,
        )
    )
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.NODE_CERTIFICATE_RENEWED
        if renewal
        else AuditAction.NODE_CERTIFICATE_ISSUED,
        object=f"node:{node.id}",
        details={"serial": serial, "expires_at": isoformat(certificate.not_valid_after_utc)},
    )
    return IssuedCertificate(
        pki.certificate_pem(certificate),
        authority.pem,
        serial,
        certificate.not_valid_after_utc,
    )


def has_certificate(session: Session, node_id: int) -> bool:
    count = session.scalar(
        select(func.count()).select_from(NodeCertificate).where(NodeCertificate.node_id == node_id)
    )
    return bool(count)


def latest_expiry(session: Session, node_ids: list[int]) -> dict[int, datetime]:
    """Each node's newest certificate's expiry, for the admin pages."""
    if not node_ids:
        return {}
    rows = session.execute(
        select(NodeCertificate.node_id, NodeCertificate.expires_at).where(
            NodeCertificate.node_id.in_(node_ids)
        )
    )
    latest: dict[int, datetime] = {}
    for node_id, expires in rows:
        if node_id not in latest or expires > latest[node_id]:
            latest[node_id] = expires
    return latest
