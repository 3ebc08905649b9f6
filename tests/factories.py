"""Build accounts and tokens through the real services, as production does."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medfed.server.db.tables import Hospital, Node, User
from medfed.server.services import accounts, enrollment

DEFAULT_PASSWORD = "a-long-test-passphrase"
_counter = itertools.count(1)


def make_hospital(db: Session, name: str | None = None) -> Hospital:
    hospital = accounts.create_hospital(db, name or f"Hospital {next(_counter)}", actor="test")
    db.commit()
    return hospital


def make_user(
    db: Session,
    role: str = "doctor",
    *,
    username: str | None = None,
    hospital: Hospital | None = None,
    password: str = DEFAULT_PASSWORD,
) -> User:
    if role == "hospital" and hospital is None:
        hospital = make_hospital(db)
    user = accounts.create_user(
        db,
        username=username or f"{role}{next(_counter)}",
        password=password,
        role=role,
        hospital_id=hospital.id if hospital else None,
        actor="test",
    )
    db.commit()
    return user


@dataclass
class LoggedIn:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api_login(client: TestClient, user: User, password: str = DEFAULT_PASSWORD) -> LoggedIn:
    response = client.post(
        "/api/v1/auth/token", json={"username": user.username, "password": password}
    )
    assert response.status_code == 200, response.text
    return LoggedIn(user=user, token=response.json()["access_token"])


def make_logged_in(client: TestClient, db: Session, role: str, **kwargs: object) -> LoggedIn:
    return api_login(client, make_user(db, role, **kwargs))  # type: ignore[arg-type]


def make_node(
    db: Session, hospital: Hospital | None = None, name: str = "node"
) -> tuple[Node, str]:
    """An enrolled node of `hospital` (a new one if None) and its credential."""
    hospital = hospital or make_hospital(db)
    issued = enrollment.create_enrollment_token(db, hospital, ttl_hours=1, actor="test")
    enrolled = enrollment.enroll_node(
        db, issued.token, node_name=name, software_version="test", client="127.0.0.1"
    )
    db.commit()
    return enrolled.node, enrolled.credential
