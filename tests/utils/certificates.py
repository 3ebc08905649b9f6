"""Node certificates made directly from an authority, as the server would sign them."""

from __future__ import annotations

from cryptography import x509

from medfed.core import pki
from medfed.core.clock import utcnow


def node_certificate(
    authority: pki.Authority, node_id: int = 7, hospital_id: int = 3, days: int = 30
) -> tuple[pki.PrivateKey, x509.Certificate]:
    """A fresh key and the authority's client certificate for it, naming this node."""
    key = pki.new_key()
    request = pki.load_request(pki.certificate_request(key, "ward-node"))
    certificate = pki.issue_node_certificate(
        authority,
        request,
        node_id=node_id,
        hospital_id=hospital_id,
        hospital_name="Hospital C",
        now=utcnow(),
        days=days,
    )
    return key, certificate
