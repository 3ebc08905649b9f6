"""TLS end to end with real processes: the server issues its own certificate from the network's
authority, nodes pin that authority through their enrollment token, get client certificates
for keys that never leave them, call with mutual TLS, renew before expiry, and are refused at
once when revoked; behind a trusted proxy the certificate arrives in a header."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from medfed.core import pki
from medfed.core.clock import utcnow
from medfed.core.config import Settings
from medfed.node import tls as node_tls
from medfed.node.credential import require_credential
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.services import authority
from medfed.server.tls import CONNECTION, NodeCertificates
from tests.utils.certificates import node_certificate
from tests.utils.processes import (
    hospital_token,
    medfed_env,
    node_credential,
    run_medfed,
    running_server,
)


def _context(authority: Path, identity: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(authority))
    if identity is not None:
        context.load_cert_chain(str(identity))
    return context


def _me(url: str, credential: str, context: ssl.SSLContext | bool) -> httpx.Response:
    return httpx.get(
        f"{url}/api/v1/nodes/me",
        headers={"Authorization": f"Bearer {credential}"},
        verify=context,
        timeout=10,
    )


def _audited(env: dict[str, str], action: str) -> int:
    listed = run_medfed(["admin", "audit", "list", "--limit", "200", "--action", action], env)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.count(action)


def test_nodes_pin_the_authority_enroll_and_call_with_mutual_tls(
    tmp_path: Path, database_url: str
) -> None:
    env = medfed_env(
        tmp_path / "home",
        database_url,
        tmp_path / "node-a",
        MEDFED_TLS_HOSTNAMES="127.0.0.1,localhost",
    )
    env_b = {**env, "MEDFED_NODE_HOME": str(tmp_path / "node-b")}
    # Tokens made on the command line before the server ever ran: the command line creates the
    # network's authority, and the server then serves with that same one.
    token_a, token_b = hospital_token(env, "Hospital A"), hospital_token(env, "Hospital B")
    with running_server(env, tmp_path / "server.log") as server:
        authority = tmp_path / "home" / "tls" / "authority.pem"
        pin = token_a.rsplit(".", 1)[1]
        assert pki.fingerprint(pki.load_certificate_pem(authority.read_bytes())) == pin
        # The server's certificate verifies against the authority alone: no hand-made files.
        assert httpx.get(f"{server.url}/login", verify=_context(authority)).status_code == 200

        forged = token_a.rsplit(".", 1)[0] + "." + "0" * 64
        refused = run_medfed(["node", "enroll", "--server", server.url, "--token", forged], env)
        assert refused.returncode != 0 and "does not match" in refused.stderr
        assert not (tmp_path / "node-a" / "credential.json").exists()
        # Nothing was sent with the forged pin: the same token still enrolls.
        for node_env, token in ((env, token_a), (env_b, token_b)):
            enrolled = run_medfed(
                ["node", "enroll", "--server", server.url, "--token", token], node_env
            )
            assert enrolled.returncode == 0, enrolled.stderr
            assert "Client certificate issued" in enrolled.stdout
        identity_a = node_tls.identity_file(tmp_path / "node-a")
        identity_b = node_tls.identity_file(tmp_path / "node-b")
        assert identity_a.stat().st_mode & 0o777 == 0o600
        status = run_medfed(["node", "status"], env)
        assert status.returncode == 0 and "valid until" in status.stdout, status.stdout

        credential_a = node_credential(tmp_path / "node-a")
        ok = _me(server.url, credential_a, _context(authority, identity_a))
        assert ok.status_code == 200 and ok.json()["id"] == 1
        bare = _me(server.url, credential_a, _context(authority))
        assert bare.status_code == 401
        assert bare.json()["error"]["code"] == "client_certificate_required"
        swapped = _me(server.url, credential_a, _context(authority, identity_b))
        assert swapped.status_code == 401 and "node 2's" in swapped.json()["error"]["message"]
        # A certificate for node 1 from another authority does not get past the handshake.
        impostor = pki.new_authority("Impostor", utcnow())
        key, fake = node_certificate(impostor, node_id=1, hospital_id=1)
        fake_file = tmp_path / "fake.pem"
        fake_file.write_text(pki.certificate_pem(fake) + pki.key_pem(key))
        with pytest.raises(httpx.HTTPError):
            _me(server.url, credential_a, _context(authority, fake_file))

        # The node renews on its own once a third of the lifetime is left (clock moved on).
        old = pki.load_certificate_pem(identity_a.read_bytes())
        node_home = tmp_path / "node-a"
        with node_tls.client_for(node_home, require_credential(node_home)) as client:
            renewer = node_tls.Renewer(
                node_home, client, clock=lambda: utcnow() + timedelta(days=25)
            )
            assert renewer.check() is not None
            assert renewer.check() is None  # checked at most once an hour
            assert client.whoami()["id"] == 1  # new connections present the new certificate
        new = pki.load_certificate_pem(identity_a.read_bytes())
        assert new.serial_number != old.serial_number and new.public_key() != old.public_key()
        assert _me(server.url, credential_a, _context(authority, identity_a)).status_code == 200

        # An expired certificate of this very network is refused in the handshake, and the
        # node says so in words.
        renewed = identity_a.read_text()
        _expired_certificate(identity_a, database_url, env["MEDFED_SECRET_KEY"])
        stale = run_medfed(["node", "status"], env)
        assert stale.returncode == 1 and "client certificate expired on" in " ".join(
            stale.stdout.split()
        ), stale.stdout
        identity_a.write_text(renewed)
        again = run_medfed(["node", "enroll", "--server", server.url, "--token", token_a], env)
        assert again.returncode != 0 and "already enrolled" in again.stderr
        needed = ["node", "enroll", "--if-needed", "--server", server.url, "--token", token_a]
        kept = run_medfed(needed, env)  # a container's start: enrolled already, nothing to do
        assert kept.returncode == 0 and "Already enrolled" in kept.stdout, kept.stderr

        revoked = run_medfed(["admin", "revoke-node", "1", "--reason", "laptop stolen"], env)
        assert revoked.returncode == 0, revoked.stderr
        after = _me(server.url, credential_a, _context(authority, identity_a))
        assert after.status_code == 401 and after.json()["error"]["code"] == "node_revoked"
        assert run_medfed(["node", "status"], env_b).returncode == 0  # B is not affected
        listed = run_medfed(["admin", "list-nodes"], env)
        expiry = pki.load_certificate_pem(identity_b.read_bytes()).not_valid_after_utc
        assert f"{expiry:%Y-%m-%d %H:%M}" in listed.stdout, listed.stdout
        log = server.log()
    assert credential_a not in log and "PRIVATE KEY" not in log
    assert _audited(env, "node_certificate_issued") == 2
    assert _audited(env, "node_certificate_renewed") == 1


def _expired_certificate(identity: Path, database_url: str, secret_key: str) -> None:
    """Replace a node's certificate with one the network's own authority issued 40 days ago
    for 30 days (signed here with the authority the server keeps in the database)."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            network = authority.load_or_create(session, secret_key)
    finally:
        engine.dispose()
    key = pki.new_key()
    certificate = pki.issue_node_certificate(
        network,
        pki.load_request(pki.certificate_request(key, "x")),
        node_id=1,
        hospital_id=1,
        hospital_name="Hospital A",
        now=utcnow() - timedelta(days=40),
        days=30,
    )
    identity.write_text(pki.certificate_pem(certificate) + pki.key_pem(key))


def test_behind_a_trusted_proxy_the_certificate_arrives_in_a_header(
    tmp_path: Path, database_url: str
) -> None:
    env = medfed_env(
        tmp_path / "home",
        database_url,
        tmp_path / "node",
        MEDFED_TRUSTED_PROXIES="127.0.0.1",
        MEDFED_NODE_MTLS="required",
    )
    token = hospital_token(env, "Hospital P")
    with running_server(env, tmp_path / "server.log") as server:
        enrolled = run_medfed(["node", "enroll", "--server", server.url, "--token", token], env)
        assert enrolled.returncode == 0, enrolled.stderr
        credential = node_credential(tmp_path / "node")
        certificate = node_tls.identity_file(tmp_path / "node").read_text().split("-----BEGIN P")[0]
        headers = {"Authorization": f"Bearer {credential}"}
        bare = httpx.get(f"{server.url}/api/v1/nodes/me", headers=headers)
        assert bare.status_code == 401
        assert bare.json()["error"]["code"] == "client_certificate_required"
        forwarded = httpx.get(
            f"{server.url}/api/v1/nodes/me",
            headers={**headers, "X-Client-Cert": quote(certificate)},
        )
        assert forwarded.status_code == 200, forwarded.text


def test_a_certificate_header_from_anyone_but_a_trusted_proxy_is_ignored() -> None:
    authority = pki.new_authority("Test", utcnow())

    class Holder:
        def get(self) -> pki.Authority:
            return authority

    _, certificate = node_certificate(authority, node_id=4, hospital_id=2)
    header = (b"x-client-cert", quote(pki.certificate_pem(certificate)).encode())
    certificates = NodeCertificates(Settings(trusted_proxies="10.0.0.0/8"), Holder())

    def scope(peer: str) -> dict[str, object]:
        return {
            "headers": [header],
            "extensions": {CONNECTION: {"peer": peer, "tls": False, "client_cert": None}},
        }

    assert certificates.presented(scope("192.168.1.9")) is None
    identity = certificates.presented(scope("10.1.2.3"))
    assert identity is not None and (identity.node_id, identity.hospital_id) == (4, 2)
