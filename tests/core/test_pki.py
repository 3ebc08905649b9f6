"""The certificate authority's pure functions: what it signs, and what it refuses to believe."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from medfed.core import pki
from medfed.core.clock import utcnow
from medfed.core.errors import AuthenticationFailed, InvalidInput
from tests.utils.certificates import node_certificate


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.new_authority("Test network", utcnow())


def test_a_node_certificate_names_its_node_and_hospital_and_is_for_clients_only(
    authority: pki.Authority,
) -> None:
    key, certificate = node_certificate(authority)
    assert certificate.public_key() == key.public_key()
    identity = pki.verify_node_certificate(authority.certificate, certificate, utcnow())
    assert (identity.node_id, identity.hospital_id) == (7, 3)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is False
    assert (
        certificate.not_valid_after_utc - certificate.not_valid_before_utc
        == timedelta(days=30) + pki.BACKDATE
    )


def test_another_authoritys_certificate_is_refused_even_naming_a_real_node(
    authority: pki.Authority,
) -> None:
    impostor = pki.new_authority("Impostor", utcnow())
    _, forged = node_certificate(impostor)
    with pytest.raises(AuthenticationFailed, match="not issued by this network"):
        pki.verify_node_certificate(authority.certificate, forged, utcnow())


def test_an_expired_certificate_is_refused_and_renewal_is_due_in_its_last_third(
    authority: pki.Authority,
) -> None:
    _, certificate = node_certificate(authority, days=30)
    now = utcnow()
    assert not pki.renewal_due(certificate, now + timedelta(days=19))
    assert pki.renewal_due(certificate, now + timedelta(days=21))
    with pytest.raises(AuthenticationFailed, match="expired"):
        pki.verify_node_certificate(authority.certificate, certificate, now + timedelta(days=31))


def test_a_server_certificate_is_not_a_node_certificate(authority: pki.Authority) -> None:
    server = pki.issue_server_certificate(
        authority, pki.new_key(), ["medfed.example.org", "10.0.0.5"], now=utcnow(), days=90
    )
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["medfed.example.org"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    with pytest.raises(AuthenticationFailed, match="does not name a MedFed node"):
        pki.verify_node_certificate(authority.certificate, server, utcnow())


def test_bad_certificate_requests_are_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidInput, match="not a PEM certificate request") as caught:
        pki.load_request("hello")
    assert caught.value.field == "certificate_request"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    rsa_request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "n")]))
        .sign(rsa_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    with pytest.raises(InvalidInput, match="P-256"):
        pki.load_request(rsa_request)


def test_fingerprints_are_sha256_hex_and_checked(authority: pki.Authority) -> None:
    assert len(authority.fingerprint) == 64
    spaced = ":".join(
        authority.fingerprint[i : i + 2] for i in range(0, 64, 2)
    ).upper()  # as openssl prints it
    assert pki.check_fingerprint(spaced) == authority.fingerprint
    with pytest.raises(InvalidInput, match="64 hexadecimal"):
        pki.check_fingerprint("abc")
