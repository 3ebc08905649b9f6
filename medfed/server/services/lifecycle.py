"""A node's and a hospital's life on the network after enrollment: revocation, credential
rotation, deactivation and reactivation.

Each step is audited and takes effect on the very next request: a node's credential is checked
afresh on every call (`enrollment.resolve_node_caller`), with its hospital's state. A live round
does not wait for a node that can no longer reach it: its membership is dropped at once, as a
dropout's, and the ticker is kicked to move the round on without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.clock import isoformat, utcnow
from medfed.core.errors import Conflict, InvalidInput, NotFound
from medfed.core.security import NODE_CREDENTIAL_PREFIX, hash_token, new_secret
from medfed.fl import rounds as machine
from medfed.server import bell
from medfed.server.db.tables import Hospital, Node, Round, RoundMember
from medfed.server.services import audit, secagg
from medfed.server.services.enrollment import EnrolledNode
from medfed.server.services.rounds import get_round

MAX_REASON = 200
UNFINISHED = ("joined", "submitted")  # a member that still owes the round a step


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise InvalidInput("Say why (it is kept in the audit trail).", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"The reason is longer than {MAX_REASON} characters.", field="reason")
    return reason


def get_node(session: Session, node_id: int) -> Node:
    node = session.get(Node, node_id)
    if node is None:
        raise NotFound(f"There is no node {node_id}.", field="node_id")
    return node


def node_of_hospital(session: Session, hospital_id: int, node_id: int) -> Node:
    """The node, if it is this hospital's (a page or call names both)."""
    node = get_node(session, node_id)
    if node.hospital_id != hospital_id:
        raise NotFound(f"Hospital {hospital_id} has no node {node_id}.", field="node_id")
    return node


def revoke_node(session: Session, node_id: int, *, reason: str, actor: str) -> Node:
    """The node's credential stops working at once; live rounds treat it as a dropout."""
    why = _reason(reason)
    node = get_node(session, node_id)
    if node.revoked_at is not None:
        raise Conflict(
            f"Node {node.id} was already revoked on {isoformat(node.revoked_at)[:16]} UTC.",
            field="node_id",
        )
    node.revoked_at = utcnow()
    rounds = drop_from_live_rounds(session, [node.id])
    audit.record(
        session,
        actor=actor,
        action=AuditAction.NODE_REVOKED,
        object=f"node:{node.id}",
        details={"hospital_id": node.hospital_id, "reason": why, "rounds_dropped_from": rounds},
    )
    return node


def rotate_credential(session: Session, node_id: int, *, actor: str) -> EnrolledNode:
    """A new credential for the node, shown once; the old one stops working at once."""
    node = get_node(session, node_id)
    if node.revoked_at is not None:
        raise Conflict(
            f"Node {node.id} is revoked; a revoked node enrolls again with a new token "
            "instead of getting a new credential.",
            field="node_id",
        )
    credential = new_secret(NODE_CREDENTIAL_PREFIX)
    node.credential_hash = hash_token(credential)
    audit.record(
        session,
        actor=actor,
        action=AuditAction.NODE_CREDENTIAL_ROTATED,
        object=f"node:{node.id}",
        details={"hospital_id": node.hospital_id},
    )
    return EnrolledNode(node=node, credential=credential)


def set_hospital_active(
    session: Session, hospital: Hospital, active: bool, *, reason: str, actor: str
) -> Hospital:
    """Deactivate (its nodes are refused and leave live rounds) or reactivate a hospital."""
    why = _reason(reason)
    if hospital.is_active == active:
        state = "active" if active else "deactivated"
        raise Conflict(f"{hospital.name} is already {state}.", field="hospital_id")
    hospital.is_active = active
    rounds: list[int] = []
    if not active:
        nodes = session.scalars(select(Node.id).where(Node.hospital_id == hospital.id))
        rounds = drop_from_live_rounds(session, list(nodes))
    audit.record(
        session,
        actor=actor,
        action=AuditAction.HOSPITAL_REACTIVATED if active else AuditAction.HOSPITAL_DEACTIVATED,
        object=f"hospital:{hospital.id}",
        details={"reason": why, "rounds_dropped_from": rounds},
    )
    return hospital


def drop_from_live_rounds(session: Session, node_ids: Iterable[int]) -> list[int]:
    """Drop these nodes' unfinished memberships of live rounds; the rounds it touched."""
    ids = list(node_ids)
    if not ids:
        return []
    round_ids = sorted(
        set(
            session.scalars(
                select(RoundMember.round_id)
                .join(Round, Round.id == RoundMember.round_id)
                .where(
                    RoundMember.node_id.in_(ids),
                    RoundMember.status.in_(UNFINISHED),
                    Round.status.in_(machine.LIVE),
                )
            )
        )
    )
    for round_id in round_ids:
        round_ = get_round(session, round_id, lock=True)  # the ticker moves rounds under it too
        if round_.status not in machine.LIVE:
            continue
        for member in round_.members:
            if member.node_id in ids and member.status in UNFINISHED:
                member.status = "dropped"
                secagg.forget(round_, member)
    if round_ids:
        hospitals = session.scalars(
            select(RoundMember.hospital_id).where(RoundMember.round_id.in_(round_ids))
        )
        bell.note(session, set(hospitals), kick=True, rounds=round_ids)
    return round_ids
