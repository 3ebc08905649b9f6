"""Hospitals and users: creation, listing and the visibility rules between them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.core.security import hash_password, password_problem
from medfed.core.validation import (
    validate_display_name,
    validate_hospital_name,
    validate_username,
)
from medfed.server.db.tables import ROLES, Hospital, Node, User
from medfed.server.services import audit


def create_hospital(session: Session, name: str, *, actor: str) -> Hospital:
    clean = validate_hospital_name(name)
    exists = session.scalar(select(Hospital.id).where(func.lower(Hospital.name) == clean.lower()))
    if exists is not None:
        raise Conflict(f"A hospital named {clean!r} already exists.", field="name")
    hospital = Hospital(name=clean)
    session.add(hospital)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.HOSPITAL_CREATED,
        object=f"hospital:{hospital.id}",
        details={"name": clean},
    )
    return hospital


def get_hospital(session: Session, hospital_id: int) -> Hospital:
    hospital = session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(f"There is no hospital with id {hospital_id}.")
    return hospital


def find_hospital(session: Session, name_or_id: str) -> Hospital:
    """Look a hospital up by id or by name (case-insensitive), as people type it at a prompt."""
    if name_or_id.isdigit():
        return get_hospital(session, int(name_or_id))
    hospital = session.scalar(
        select(Hospital).where(func.lower(Hospital.name) == name_or_id.strip().lower())
    )
    if hospital is None:
        raise NotFound(f"There is no hospital named {name_or_id!r}.", field="hospital")
    return hospital


def list_hospitals(session: Session, *, only_id: int | None = None) -> list[Hospital]:
    query = select(Hospital).order_by(Hospital.name)
    if only_id is not None:
        query = query.where(Hospital.id == only_id)
    return list(session.scalars(query))


def list_nodes(session: Session, hospital_id: int) -> list[Node]:
    return list(
        session.scalars(select(Node).where(Node.hospital_id == hospital_id).order_by(Node.id))
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    hospital_id: int | None = None,
    actor: str,
) -> User:
    clean_username = validate_username(username)
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.", field="role")
    if role == "hospital" and hospital_id is None:
        raise InvalidInput("Hospital staff need a hospital: give hospital_id.", field="hospital_id")
    if role != "hospital" and hospital_id is not None:
        raise InvalidInput(
            f"Only hospital staff belong to a hospital; a {role} takes no hospital_id.",
            field="hospital_id",
        )
    if hospital_id is not None:
        get_hospital(session, hospital_id)
    problem = password_problem(password, clean_username)
    if problem:
        raise InvalidInput(f"The password {problem}.", field="password")
    # Without a display name, the username shown as words ("jane_doe" as "jane doe").
    clean_display = validate_display_name(display_name or clean_username.replace("_", " "))
    if session.scalar(select(User.id).where(User.username == clean_username)) is not None:
        raise Conflict(f"The username {clean_username!r} is taken.", field="username")
    user = User(
        username=clean_username,
        display_name=clean_display,
        role=role,
        hospital_id=hospital_id,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=AuditAction.USER_CREATED,
        object=f"user:{clean_username}",
        details={"role": role, "hospital_id": hospital_id},
    )
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user with id {user_id}.")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) or 0


def set_user_active(session: Session, user: User, active: bool, *, actor: str) -> User:
    user.is_active = active
    audit.record(
        session,
        actor=actor,
        action=AuditAction.USER_UPDATED,
        object=f"user:{user.username}",
        details={"is_active": active},
    )
    return user
