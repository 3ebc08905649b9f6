"""MedFed's own small certificate authority, as pure functions over `cryptography` objects.

The server holds one authority per network. It signs a client certificate for each enrolled
node from a certificate request the node made (the node's private key never leaves it) and,
when asked, the server's own TLS certificate. A node certificate names its node and hospital in
the subject alternative name as `urn:medfed:node:<id>` and `urn:medfed:hospital:<id>`, and is
for client authentication only. Enrollment tokens carry the authority's fingerprint (SHA-256
of its DER form), so a node trusts exactly that authority from its first contact.

No I/O here: the server keeps its authority in the database (`server/services/authority.py`),
the node its key and certificate in its home folder (`node/tls.py`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from medfed.core.errors import AuthenticationFailed, InvalidInput

AUTHORITY_YEARS = 10
NODE_URN = "urn:medfed:node:"
HOSPITAL_URN = "urn:medfed:hospital:"
# A node renews its certificate once less than this share of its lifetime is left.
RENEW_WHEN_LEFT = 1 / 3
# Clocks differ between machines: certificates start a few minutes in the past.
BACKDATE = timedelta(minutes=5)
FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def pem(self) -> str:
        return certificate_pem(self.certificate)


@dataclass(frozen=True)
class NodeIdentity:
    """Whom a verified node certificate names."""

    node_id: int
    hospital_id: int
    serial: str
    not_after: datetime


def new_key() -> PrivateKey:
    """An ECDSA P-256 key: small, fast, and accepted by every TLS stack."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_key_pem(text: str | bytes) -> PrivateKey:
    data = text.encode("ascii") if isinstance(text, str) else text
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidInput("The private key is not an elliptic-curve key.")
    return key


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate_pem(text: str | bytes, *, field: str = "certificate") -> x509.Certificate:
    data = text.encode("ascii", errors="replace") if isinstance(text, str) else text
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise InvalidInput(
            "This is not a PEM certificate (-----BEGIN CERTIFICATE-----).", field=field
        ) from None


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lower-case hex (what `openssl x509 -fingerprint` shows)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _usage(*, signs_certificates: bool, agrees_keys: bool) -> x509.KeyUsage:
    """Signing always; certificates and revocation lists only for the authority; key agreement
    for a server (ECDHE key exchange)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=agrees_keys,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def new_authority(network_name: str, now: datetime) -> Authority:
    key = new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MedFed"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{network_name[:40]} certificate authority"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=365 * AUTHORITY_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs_certificates=True, agrees_keys=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


def certificate_request(key: PrivateKey, node_name: str) -> str:
    """A node's certificate request (PEM): proves it holds the key the certificate will name."""
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_name[:60] or "node")])
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_request(text: str) -> x509.CertificateSigningRequest:
    """A certificate request a node sent, checked: well-formed, self-signed by its key, P-256."""
    try:
        request = x509.load_pem_x509_csr(text.encode("ascii", errors="replace"))
    except ValueError:
        raise InvalidInput(
            "certificate_request is not a PEM certificate request "
            "(-----BEGIN CERTIFICATE REQUEST-----).",
            field="certificate_request",
        ) from None
    if not request.is_signature_valid:
        raise InvalidInput(
            "The certificate request's signature does not match its key.",
            field="certificate_request",
        )
    public = request.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise InvalidInput(
            "The certificate request must be for an ECDSA P-256 key (what `medfed node` makes).",
            field="certificate_request",
        )
    return request


def _leaf(
    authority: Authority,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    names: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    now: datetime,
    days: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _usage(signs_certificates=False, agrees_keys=usage == ExtendedKeyUsageOID.SERVER_AUTH),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )


def issue_node_certificate(
    authority: Authority,
    request: x509.CertificateSigningRequest,
    *,
    node_id: int,
    hospital_id: int,
    hospital_name: str,
    now: datetime,
    days: int,
) -> x509.Certificate:
    """A client certificate bound to one node of one hospital, for the key in `request`."""
    public = request.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)  # load_request checked it
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, hospital_name[:60] or "hospital"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"medfed-node-{node_id}"),
        ]
    )
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(f"{NODE_URN}{node_id}"),
        x509.UniformResourceIdentifier(f"{HOSPITAL_URN}{hospital_id}"),
    ]
    return _leaf(authority, subject, public, names, ExtendedKeyUsageOID.CLIENT_AUTH, now, days)


def issue_server_certificate(
    authority: Authority, key: PrivateKey, hostnames: list[str], *, now: datetime, days: int
) -> x509.Certificate:
    """The server's own TLS certificate, for the names nodes and browsers reach it by."""
    if not hostnames:
        raise InvalidInput("Name at least one host name or address for the server certificate.")
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:60])])
    return _leaf(
        authority, subject, key.public_key(), names, ExtendedKeyUsageOID.SERVER_AUTH, now, days
    )


def verify_node_certificate(
    authority: x509.Certificate, certificate: x509.Certificate, now: datetime
) -> NodeIdentity:
    """The node a certificate names, once it is shown to be this authority's, current and for
    client authentication; AuthenticationFailed otherwise."""
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        raise AuthenticationFailed(
            "The client certificate was not issued by this network's certificate authority. "
            "Enroll the node again (`medfed node enroll --force`)."
        ) from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise AuthenticationFailed(
            f"The node's client certificate expired on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC. Renew it with "
            "`medfed node renew-certificate` (a running node renews on its own before expiry)."
        )
    node_id, hospital_id = _named_node(certificate)
    if node_id is None or hospital_id is None:
        raise AuthenticationFailed("The client certificate does not name a MedFed node.")
    return NodeIdentity(
        node_id,
        hospital_id,
        format(certificate.serial_number, "x"),
        certificate.not_valid_after_utc,
    )


def _named_node(certificate: x509.Certificate) -> tuple[int | None, int | None]:
    """The node and hospital ids a client-authentication certificate names."""
    node_id = hospital_id = None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None, None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage.value:
        return None, None
    for uri in names.value.get_values_for_type(x509.UniformResourceIdentifier):
        tail = uri.rpartition(":")[2]
        if uri.startswith(NODE_URN) and tail.isdigit():
            node_id = int(tail)
        elif uri.startswith(HOSPITAL_URN) and tail.isdigit():
            hospital_id = int(tail)
    return node_id, hospital_id


def renewal_due(certificate: x509.Certificate, now: datetime) -> bool:
    """Whether less than RENEW_WHEN_LEFT of the certificate's lifetime is left."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return (end - now) < (end - start) * RENEW_WHEN_LEFT


def check_fingerprint(value: str) -> str:
    text = value.strip().lower().replace(":", "")
    if not FINGERPRINT.match(text):
        raise InvalidInput(
            "A certificate fingerprint is 64 hexadecimal digits (SHA-256).", field="fingerprint"
        )
    return text
