"""The node's side of TLS: the network's authority it pinned, its key and client certificate.

At enrollment the node fetches the network's certificate authority and keeps it only if its
SHA-256 matches the fingerprint in the enrollment token (sent to the hospital out of band), so
from its very first request it trusts that authority and no other one an attacker could show.
It then makes its own key pair and sends only a certificate request; the key never leaves the
node home. The key and its certificate live together in one file (mode 0600, replaced
atomically), so a renewal interrupted at any point leaves a matching pair.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from medfed.core import errors, pki
from medfed.core.clock import utcnow
from medfed.core.files import write_private_file
from medfed.node.client import API, ServerClient
from medfed.node.credential import NodeCredential

TLS_DIR = "tls"
AUTHORITY_FILE = "authority.pem"
IDENTITY_FILE = "node.pem"  # the node's certificate followed by its private key
CHECK_EVERY_SECONDS = 3600.0  # how often a running node looks at its certificate's expiry


def authority_file(node_home: Path) -> Path:
    return node_home / TLS_DIR / AUTHORITY_FILE


def identity_file(node_home: Path) -> Path:
    return node_home / TLS_DIR / IDENTITY_FILE


def fetch_pinned_authority(server_url: str, pin: str, timeout: float = 30.0) -> str:
    """The network's authority (PEM) from the server, if it is the one the token pins. Nothing
    else is sent before this check: the server is not trusted yet, the pin is what decides."""
    expected = pki.check_fingerprint(pin)
    try:
        # verify=False on purpose: the fingerprint below authenticates what comes back.
        answer = httpx.get(f"{server_url}{API}/nodes/authority", verify=False, timeout=timeout)  # noqa: S501
        answer.raise_for_status()
        pem = str(answer.json()["certificate"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise errors.ServiceUnavailable(
            f"Could not get the network's certificate authority from {server_url} "
            f"({type(exc).__name__}). Check the address and that the server is running."
        ) from None
    certificate = pki.load_certificate_pem(pem)
    if pki.fingerprint(certificate) != expected:
        raise errors.AuthenticationFailed(
            f"The server at {server_url} shows a certificate authority whose fingerprint does not "
            "match the one in your enrollment token: this may not be your network's server. "
            "Nothing was sent. Check the address, or ask your administrator for a new token."
        )
    return pki.certificate_pem(certificate)


def save_authority(node_home: Path, pem: str) -> None:
    write_private_file(authority_file(node_home), pem)


def save_identity(node_home: Path, certificate_pem: str, key: pki.PrivateKey) -> None:
    write_private_file(identity_file(node_home), certificate_pem + pki.key_pem(key))


def new_request(node_name: str) -> tuple[pki.PrivateKey, str]:
    key = pki.new_key()
    return key, pki.certificate_request(key, node_name)


def ssl_context(node_home: Path) -> ssl.SSLContext | None:
    """The context a node connects with: the system's authorities and the pinned network one
    (a server behind a public certificate still verifies), and the node's own certificate;
    None before the node pinned an authority (the client then uses the system's)."""
    authority = authority_file(node_home)
    if not authority.is_file():
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(authority))
    identity = identity_file(node_home)
    if identity.is_file():
        context.load_cert_chain(str(identity))
    return context


def client_for(node_home: Path, credential: NodeCredential) -> ServerClient:
    """The node's client for its server, with its pinned authority and client certificate."""
    return ServerClient(
        credential.server_url,
        credential.credential,
        ssl_context=ssl_context(node_home),
        certificate_expires=_expires(node_home),
    )


def _expires(node_home: Path) -> datetime | None:
    identity = identity_file(node_home)
    if not identity.is_file():
        return None
    return pki.load_certificate_pem(identity.read_bytes()).not_valid_after_utc


def certificate_expiry(node_home: Path) -> str | None:
    expires = _expires(node_home)
    return None if expires is None else f"{expires:%Y-%m-%d %H:%M} UTC"


def renew(node_home: Path, client: ServerClient, node_name: str) -> str:
    """A new key and certificate for this node, in force for the client's next connections;
    returns when the new one expires."""
    key, request = new_request(node_name)
    answer = client.renew_certificate(request)
    certificate = pki.load_certificate_pem(str(answer["certificate"]))
    if certificate.public_key() != key.public_key():
        raise errors.AuthenticationFailed("The server answered with a certificate for another key.")
    save_identity(node_home, pki.certificate_pem(certificate), key)
    if not authority_file(node_home).is_file():
        save_authority(node_home, str(answer["authority_certificate"]))
    client.use_identity(str(identity_file(node_home)), certificate.not_valid_after_utc)
    return f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"


def renewal_due(node_home: Path, now: datetime | None = None) -> bool:
    identity = identity_file(node_home)
    if not identity.is_file():
        return False
    return pki.renewal_due(pki.load_certificate_pem(identity.read_bytes()), now or utcnow())


class Renewer:
    """Renews the node's certificate when a third of its lifetime is left, checking at most
    once an hour; a failed renewal is retried at the next check (the old certificate still
    works until it expires)."""

    def __init__(
        self,
        node_home: Path,
        client: ServerClient,
        node_name: str = "node",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.node_home, self.client, self.node_name = node_home, client, node_name
        self._clock = clock
        self._next_check = 0.0

    def check(self) -> str | None:
        """When the renewed certificate expires, if this check renewed it."""
        now = time.monotonic()
        if now < self._next_check:
            return None
        self._next_check = now + CHECK_EVERY_SECONDS
        if not renewal_due(self.node_home, self._clock()):
            return None
        return renew(self.node_home, self.client, self.node_name)
