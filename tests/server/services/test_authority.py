"""The network's certificate authority in the database: one per network, its key sealed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from medfed.core.errors import ConfigurationError
from medfed.server.db.engine import make_engine, make_session_factory
from medfed.server.db.migrate import upgrade_to_head
from medfed.server.db.tables import CertificateAuthority
from medfed.server.services import authority

SECRET = "a-long-enough-secret-key-for-the-tests-0123456789"


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade_to_head(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_every_process_gets_the_same_authority_and_the_key_is_sealed(
    factory: sessionmaker[Session],
) -> None:
    with factory() as first, first.begin():
        created = authority.load_or_create(first, SECRET)
    # Another server process of the network, with the same secret key.
    held = authority.AuthorityHolder(factory, SECRET).get()
    assert held.fingerprint == created.fingerprint
    assert held.key.private_numbers() == created.key.private_numbers()
    with factory() as session:
        row = session.scalars(select(CertificateAuthority)).one()
        assert row.fingerprint == created.fingerprint
        assert "PRIVATE KEY" not in row.sealed_key  # a copy of the database is not the key
    with factory() as session, session.begin():  # a second create is the same authority
        assert authority.load_or_create(session, SECRET).fingerprint == created.fingerprint


def test_a_different_secret_key_cannot_open_the_authority(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session, session.begin():
        authority.load_or_create(session, SECRET)
    with factory() as session, pytest.raises(ConfigurationError, match="same secret key"):
        authority.load_or_create(session, SECRET + "-other")
