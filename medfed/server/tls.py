"""TLS at the server: its own certificate, mutual TLS for nodes, and who presented what.

The server speaks https itself when it has a certificate: MEDFED_TLS_CERT/MEDFED_TLS_KEY, or
one it issues itself from the network's authority for MEDFED_TLS_HOSTNAMES. It then asks every
client for a certificate without requiring one (browsers have none); a node presents the client
certificate it got at enrollment, and `NodeCertificates.presented` says which node that is.
Behind a reverse proxy that terminates TLS, the proxy verifies the certificate and forwards it
in a header, which is believed only from MEDFED_TRUSTED_PROXIES.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from medfed.core import pki
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.core.errors import AuthenticationFailed, ConfigurationError, InvalidInput
from medfed.core.files import write_private_file

CONNECTION = "medfed.connection"  # the ASGI scope extension this module's protocol adds
SERVER_CERTIFICATE_DAYS = 90
KEPT_IDENTITIES = 1024


class MedFedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, which also tells the app the connection's real peer and
    the client certificate it presented (uvicorn gives neither to the app)."""

    _client_cert: bytes | None = None

    def connection_made(self, transport: Any) -> None:  # asyncio.Transport
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        self._client_cert = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        self._tls = ssl_object is not None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        peer = self.client[0] if self.client else None
        self.scope["extensions"] = {
            CONNECTION: {"peer": peer, "tls": self._tls, "client_cert": self._client_cert}
        }


def _tls_dir(settings: Settings) -> Path:
    return settings.home / "tls"


def authority_path(settings: Settings) -> Path:
    return _tls_dir(settings) / "authority.pem"


def uvicorn_options(settings: Settings, network_authority: pki.Authority) -> dict[str, Any]:
    """uvicorn's TLS options, writing what they name: the authority's certificate (to check
    client certificates by) and, without MEDFED_TLS_CERT, the server's own certificate."""
    folder = _tls_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    authority_file = authority_path(settings)
    authority_file.write_text(network_authority.pem, encoding="ascii")
    options: dict[str, Any] = {"http": MedFedHttpProtocol}
    if not settings.serves_tls:
        return options
    if settings.tls_cert is not None and settings.tls_key is not None:
        cert_file, key_file = settings.tls_cert, settings.tls_key
        for path in (cert_file, key_file):
            if not path.is_file():
                raise ConfigurationError(f"The TLS file {path} does not exist or is not a file.")
    else:
        cert_file, key_file = _own_certificate(folder, network_authority, settings.tls_hostnames)
    return {
        **options,
        "ssl_certfile": str(cert_file),
        "ssl_keyfile": str(key_file),
        "ssl_ca_certs": str(authority_file),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
    }


def _own_certificate(
    folder: Path, network_authority: pki.Authority, hostnames: list[str]
) -> tuple[Path, Path]:
    """The server's certificate from the network's authority, reissued when it is missing,
    names other hosts, was signed by another authority or is due for renewal."""
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    now = utcnow()
    if _still_good(cert_file, key_file, network_authority, hostnames, now):
        return cert_file, key_file
    return write_server_certificate(folder, network_authority, hostnames)


def write_server_certificate(
    folder: Path, network_authority: pki.Authority, hostnames: list[str]
) -> tuple[Path, Path]:
    """A new TLS certificate for these names from the network's authority, written with its
    key (0600) and the authority beside them: for this server, or for a reverse proxy."""
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    key = pki.new_key()
    certificate = pki.issue_server_certificate(
        network_authority, key, hostnames, now=utcnow(), days=SERVER_CERTIFICATE_DAYS
    )
    write_private_file(key_file, pki.key_pem(key))
    write_private_file(cert_file, pki.certificate_pem(certificate) + network_authority.pem)
    (folder / "authority.pem").write_text(network_authority.pem, encoding="ascii")
    return cert_file, key_file


def _still_good(
    cert_file: Path,
    key_file: Path,
    network_authority: pki.Authority,
    hostnames: list[str],
    now: datetime,
) -> bool:
    """Whether the certificate kept from a previous start names these hosts, is this
    authority's, and is not yet due for renewal (any doubt: no)."""
    if not (cert_file.is_file() and key_file.is_file()):
        return False
    try:
        current = pki.load_certificate_pem(cert_file.read_bytes())
        current.verify_directly_issued_by(network_authority.certificate)
        names = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (InvalidInput, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    named = {str(v) for v in names.get_values_for_type(x509.DNSName)}
    named |= {str(v) for v in names.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(h)) if _is_ip(h) else h for h in hostnames}
    return named == wanted and not pki.renewal_due(current, now)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class NodeCertificates:
    """Which node a request's client certificate names, verified against the network's
    authority (identities kept by certificate digest; expiry is checked on every use)."""

    def __init__(self, settings: Settings, authority: Any) -> None:
        self._settings = settings
        self._authority = authority  # AuthorityHolder: loaded on first need
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self._header = settings.client_cert_header.lower().encode("latin-1")
        self._known: OrderedDict[bytes, pki.NodeIdentity] = OrderedDict()
        self._lock = threading.Lock()

    def required(self, scope: Mapping[str, Any]) -> bool:
        mode = self._settings.node_mtls
        if mode == "off":
            return False
        if mode == "required":
            return True
        connection = scope.get("extensions", {}).get(CONNECTION) or {}
        return bool(connection.get("tls"))

    def presented(self, scope: Mapping[str, Any]) -> pki.NodeIdentity | None:
        certificate = self._certificate(scope)
        if certificate is None:
            return None
        digest = hashlib.sha256(certificate).digest()
        with self._lock:
            known = self._known.get(digest)
        now = utcnow()
        if known is not None:
            if now > known.not_after:
                raise AuthenticationFailed(
                    "The node's client certificate has expired. Renew it with "
                    "`medfed node renew-certificate`."
                )
            return known
        try:
            parsed = (
                x509.load_der_x509_certificate(certificate)
                if not certificate.startswith(b"-----")
                else x509.load_pem_x509_certificate(certificate)
            )
        except ValueError:
            raise AuthenticationFailed("The client certificate could not be read.") from None
        identity = pki.verify_node_certificate(self._authority.get().certificate, parsed, now)
        with self._lock:
            self._known[digest] = identity
            while len(self._known) > KEPT_IDENTITIES:
                self._known.popitem(last=False)
        return identity

    def _certificate(self, scope: Mapping[str, Any]) -> bytes | None:
        connection = scope.get("extensions", {}).get(CONNECTION) or {}
        if connection.get("client_cert"):
            return bytes(connection["client_cert"])
        peer = connection.get("peer")
        if not self._proxies or peer is None or not self._trusted(peer):
            return None
        for name, value in scope.get("headers", []):
            if name == self._header and value:
                return unquote(value.decode("latin-1")).encode("ascii", errors="replace")
        return None

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._proxies)
