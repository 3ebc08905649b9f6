"""The server's side of secure aggregation: take each stage's messages, say what each hospital
needs for the next stage, and end each stage (persisted in `rounds.secagg`, so a restarted
server resumes the protocol). The server only ever holds masked vectors and encrypted shares,
and ends with the sum of the cohort's weighted updates.

A homomorphic round runs the same way with other stages: the hospitals advertise their keys,
one of them (the lowest member id) makes the round's CKKS key pair and seals the secret key to
each of the others, every hospital sends its update encrypted under the public key, the server
adds the ciphertexts (it holds the public context only) and the hospitals decrypt the sum.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from medfed.core.audit_actions import AuditAction
from medfed.core.clock import isoformat
from medfed.core.errors import Conflict, InvalidInput, PermissionDenied
from medfed.fl import rounds as machine
from medfed.fl.he import ckks
from medfed.fl.secagg import constants as wire
from medfed.fl.secagg import protocol, quantize
from medfed.fl.secagg.stages import StageSnapshot, StageStep, closed, next_key_holder
from medfed.server.db.tables import Round, RoundMember, SecaggMessage
from medfed.server.services import audit
from medfed.server.services.enrollment import NodeRef
from medfed.server.services.rounds import (
    UpdateIn,
    accept,
    config_of,
    get_round,
    kick_if_last,
    refuse_replay,
)


def round_ref(round_: Round) -> str:
    return f"{round_.disease}/{round_.id}"


def start(round_: Round, now: datetime) -> None:
    """Called when the cohort is fixed: the first stage opens."""
    config = config_of(round_)
    members = [m.id for m in round_.members if m.status != "dropped"]
    cohort = len(members)
    if config.homomorphic:  # no shares to reconstruct: the round's own minimum is the floor
        threshold = min(cohort, config.secagg_threshold or config.min_hospitals)
    else:
        threshold = min(cohort, config.secagg_threshold or protocol.default_threshold(cohort))
    round_.secagg = {
        "mode": wire.HOMOMORPHIC if config.homomorphic else wire.MASKING,
        "stage": wire.ADVERTISE_KEYS,
        "threshold": threshold,
        "started_at": isoformat(now),
        "expected": sorted(members),
    }


def forget(round_: Round, member: RoundMember) -> None:
    """A member that will send nothing more (its node was revoked): the current stage stops
    waiting for it. Until the masked-input stage ends it is a dropout like any other (a masked
    update it sent is left out, and the others' shares unmask only its pairwise masks, never its
    own); once the survivors are fixed its update stays in the sum."""
    state = round_.secagg
    if state and member.id in state.get("expected", ()):
        round_.secagg = {**state, "expected": [m for m in state["expected"] if m != member.id]}


def _messages(session: Session, round_id: int, stage: str) -> dict[int, bytes]:
    rows = session.execute(
        select(SecaggMessage.sender, SecaggMessage.payload).where(
            SecaggMessage.round_id == round_id, SecaggMessage.stage == stage
        )
    ).all()
    return {int(sender): bytes(payload) for sender, payload in rows}


def _senders(session: Session, round_id: int, stage: str) -> set[int]:
    """Who sent the stage's message, without reading the messages (a masked input is a vector
    of the model's size)."""
    rows = session.scalars(
        select(SecaggMessage.sender).where(
            SecaggMessage.round_id == round_id, SecaggMessage.stage == stage
        )
    )
    return {int(sender) for sender in rows}


def _roster(session: Session, round_id: int) -> dict[int, dict[str, str]]:
    return {
        sender: json.loads(payload)
        for sender, payload in _messages(session, round_id, wire.ADVERTISE_KEYS).items()
    }


def _member(session: Session, round_: Round, node: NodeRef) -> RoundMember:
    """This node's place in the round (one row: a stage's messages arrive from every member)."""
    member = session.scalar(
        select(RoundMember).where(
            RoundMember.round_id == round_.id, RoundMember.hospital_id == node.hospital_id
        )
    )
    if member is None or member.node_id != node.id:
        raise PermissionDenied(f"This node is not in the cohort of round {round_.id}.")
    return member


def early_view(round_: Round, member: RoundMember) -> dict[str, Any] | None:
    """For a member who has just joined a secure round: what its advertise_keys message needs,
    so it can send it while the round is still open (None for a plain round)."""
    if not config_of(round_).secure:
        return None
    return {"round_ref": round_ref(round_), "client_id": member.id}


def _require_secure(round_: Round) -> None:
    if not config_of(round_).secure:
        raise Conflict(f"Round {round_.id} runs in plain mode; send the update itself.")


def _current(round_: Round) -> dict[str, Any]:
    _require_secure(round_)
    if round_.status != machine.TRAINING or not round_.secagg:
        raise Conflict(f"Round {round_.id} is {round_.status}; it is not aggregating now.")
    return round_.secagg


def receive(
    session: Session, node: NodeRef, round_id: int, stage: str, message: dict[str, Any]
) -> RoundMember:
    """Store one hospital's message for the current stage, once, after checking its shape."""
    round_ = get_round(session, round_id, lock=True)
    early = round_.status == machine.OPEN and stage == wire.ADVERTISE_KEYS
    if early:
        _require_secure(round_)
    # Keys may be advertised as soon as a hospital has joined: the first stage then ends as the
    # cohort is fixed, without a step of its own.
    state = {} if early else _current(round_)
    member = _member(session, round_, node)
    if not early and stage != state["stage"]:
        raise Conflict(
            f"Round {round_.id} is at the {state['stage']} stage, not {stage}.", field="stage"
        )
    if not early and stage == wire.HE_KEYS and member.id != state["key_holder"]:
        raise Conflict(
            f"Round {round_.id}'s key is made by hospital member {state['key_holder']}; "
            "wait for the encrypted_input stage.",
            field="stage",
        )
    if not early and member.id not in state["expected"]:
        raise Conflict(
            f"This hospital is no longer part of round {round_.id}'s secure aggregation "
            "(it missed an earlier stage)."
        )
    payload = _check(session, round_, state, member, stage, message)
    senders = _senders(session, round_.id, stage)  # read under the round's lock
    if member.id in senders:
        raise Conflict(
            f"This hospital's {stage} message for round {round_.id} was already received."
        )
    session.add(SecaggMessage(round_id=round_.id, stage=stage, sender=member.id, payload=payload))
    session.flush()
    if stage in (wire.MASKED_INPUT, wire.ENCRYPTED_INPUT):
        kind = "encrypted" if stage == wire.ENCRYPTED_INPUT else "masked"
        _record_contribution(session, round_, node, member, payload, message, kind)
    audit.record(
        session,
        actor=audit.node_actor(node.id),
        action=AuditAction.SECAGG_MESSAGE,
        object=f"round:{round_.id}",
        details={"stage": stage, "bytes": len(payload)},
    )
    if early:  # the cohort is full and every member has advertised: fix it now
        everyone = len(senders | {member.id}) >= config_of(round_).max_hospitals
        kick_if_last(session, round_.id, everyone)
    else:
        kick_if_last(session, round_.id, set(state["expected"]) <= senders | {member.id})
    return member


def _record_contribution(
    session: Session,
    round_: Round,
    node: NodeRef,
    member: RoundMember,
    payload: bytes,
    message: dict[str, Any],
    kind: str,
) -> None:
    """The masked or encrypted update counts as this hospital's contribution (once; same checks
    as plain)."""
    try:
        job_ref, base_version = str(message["job_ref"]), str(message["base_version"])
        rows = int(message["rows"])
        epsilon = None if message.get("epsilon") is None else float(message["epsilon"])
        delta = None if message.get("delta") is None else float(message["delta"])
        metrics = dict(message.get("metrics") or {})
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("The update needs job_ref, base_version and rows.") from None
    if base_version != round_.base_version.version:
        raise Conflict(
            f"The update was trained from {base_version}, but round {round_.id} trains from "
            f"{round_.base_version.version}: it is stale.",
            field="base_version",
        )
    refuse_replay(session, node, job_ref)
    body = UpdateIn(job_ref[:64], base_version, rows, epsilon, delta, metrics, update="")
    accept(session, round_, node, member, body, payload, kind)


def _check(
    session: Session,
    round_: Round,
    state: dict[str, Any],
    member: RoundMember,
    stage: str,
    message: dict[str, Any],
) -> bytes:
    try:
        if stage == wire.ADVERTISE_KEYS:
            return json.dumps(protocol.check_advertisement(message)).encode()
        if stage == wire.SHARE_KEYS:
            return json.dumps(protocol.check_shared(message, state["roster"])).encode()
        if stage in (wire.HE_KEYS, wire.ENCRYPTED_INPUT, wire.DECRYPTING):
            return _check_homomorphic(session, round_, state, member, stage, message)
        if stage == wire.MASKED_INPUT:
            raw = _raw(message)  # the copy the database keeps
            vector = np.frombuffer(raw, dtype="<u8")
            protocol.check_masked(vector.astype(np.uint64, copy=False), int(state["length"]))
            return raw
        return json.dumps(protocol.check_unmasking(message)).encode()
    except (protocol.ProtocolError, ckks.BadCiphertext) as refused:
        raise InvalidInput(f"The {stage} message is refused: {refused}.") from None
    except (KeyError, ValueError, TypeError, AttributeError):
        raise InvalidInput(f"The {stage} message is malformed for this protocol.") from None


def _raw(message: dict[str, Any]) -> bytes:
    """A frame's body (raw bytes), or base64 text in a JSON message."""
    value = message[wire.MASKED]
    if isinstance(value, str):
        value = base64.b64decode(value, validate=True)
    return bytes(value)


def _keys_message(session: Session, round_id: int) -> dict[str, Any]:
    (payload,) = _messages(session, round_id, wire.HE_KEYS).values()
    found: dict[str, Any] = json.loads(payload)
    return found


def _public_context(session: Session, round_id: int) -> bytes:
    return base64.b64decode(_keys_message(session, round_id)[wire.PUBLIC_CONTEXT])


def _check_homomorphic(
    session: Session,
    round_: Round,
    state: dict[str, Any],
    member: RoundMember,
    stage: str,
    message: dict[str, Any],
) -> bytes:
    length = int(state["length"])
    if stage == wire.HE_KEYS:
        public = base64.b64decode(message[wire.PUBLIC_CONTEXT], validate=True)
        ckks.load_public(public)  # refuses a context that carries the secret key
        sealed = {int(k): bytes.fromhex(v) for k, v in message[wire.SEALED].items()}
        others = {int(k) for k in state["roster"]} - {member.id}
        if set(sealed) != others:
            raise protocol.ProtocolError(
                "the sealed keys must be addressed to exactly the other hospitals of the roster"
            )
        return json.dumps(
            {
                wire.PUBLIC_CONTEXT: base64.b64encode(public).decode(),
                wire.SEALED: {str(k): v.hex() for k, v in sealed.items()},
            }
        ).encode()
    raw = _raw(message)
    if stage == wire.ENCRYPTED_INPUT:
        ckks.check(_public_context(session, round_.id), raw, length)
        return raw
    plaintext = np.frombuffer(raw, dtype="<f8") if len(raw) % 8 == 0 else np.empty(0)
    if plaintext.shape != (length,) or not np.all(np.isfinite(plaintext)):
        raise protocol.ProtocolError(
            f"the decrypted sum must be {length} finite float64 values (little-endian)"
        )
    return raw


def aggregate(session: Session, node: NodeRef, round_id: int) -> bytes:
    """The encrypted sum of the surviving hospitals' updates, for a hospital to decrypt. Never a
    single hospital's ciphertext: every hospital of the round holds the secret key."""
    round_ = get_round(session, round_id)
    state = _current(round_)
    _member(session, round_, node)
    if state.get("mode") != wire.HOMOMORPHIC or state["stage"] != wire.DECRYPTING:
        raise Conflict(f"Round {round_id} has no encrypted sum to decrypt now.")
    public = _public_context(session, round_.id)
    inputs = _messages(session, round_.id, wire.ENCRYPTED_INPUT)
    blobs = [inputs[s] for s in sorted(state["survivors"]) if s in inputs]
    return ckks.add(public, blobs, int(state["length"]))


def view(session: Session, node: NodeRef, round_id: int) -> dict[str, Any]:
    """What this hospital needs now: the stage, and the roster, its ciphertexts or the survivors."""
    round_ = get_round(session, round_id)
    state = _current(round_)
    member = _member(session, round_, node)
    answer: dict[str, Any] = {
        "round_ref": round_ref(round_),
        "stage": state["stage"],
        "client_id": member.id,
        "threshold": state["threshold"],
        "length": state.get("length"),
        "sent": member.id in _senders(session, round_.id, state["stage"]),
        "expected": member.id in state["expected"],
    }
    if state["stage"] in (wire.SHARE_KEYS, wire.MASKED_INPUT, wire.UNMASKING):
        answer["roster"] = {str(k): v for k, v in state["roster"].items()}
    if state["stage"] in (wire.MASKED_INPUT, wire.UNMASKING) and member.id in state["shared"]:
        shared = _messages(session, round_.id, wire.SHARE_KEYS)
        answer["ciphertexts"] = {
            str(sender): json.loads(payload)[str(member.id)]
            for sender, payload in shared.items()
            if sender in state["shared"]
        }
    if state["stage"] == wire.UNMASKING:
        answer["survivors"] = state["survivors"]
    if state.get("mode") == wire.HOMOMORPHIC:
        answer.update(_homomorphic_view(session, round_, state, member))
    return answer


def _homomorphic_view(
    session: Session, round_: Round, state: dict[str, Any], member: RoundMember
) -> dict[str, Any]:
    answer: dict[str, Any] = {"mode": wire.HOMOMORPHIC}
    if "key_holder" in state:
        answer[wire.KEY_HOLDER] = state["key_holder"]
        answer["roster"] = {str(k): v for k, v in state["roster"].items()}
    if state["stage"] in (wire.ENCRYPTED_INPUT, wire.DECRYPTING):
        keys = _keys_message(session, round_.id)
        answer[wire.PUBLIC_CONTEXT] = keys[wire.PUBLIC_CONTEXT]
        answer[wire.SEALED] = keys[wire.SEALED].get(str(member.id))  # None for the key holder
    if state["stage"] == wire.DECRYPTING:
        answer["survivors"] = state["survivors"]
    return answer


def snapshot(session: Session, round_: Round) -> StageSnapshot:
    state = round_.secagg or {}
    config = config_of(round_)
    stage = state["stage"]
    received = _senders(session, round_.id, stage)
    inputs = (wire.MASKED_INPUT, wire.ENCRYPTED_INPUT)
    deadline = config.submit_seconds if stage in inputs else config.secagg_stage_seconds
    # One key holder makes the key; any one hospital's decryption gives the sum.
    single = stage in (wire.HE_KEYS, wire.DECRYPTING)
    return StageSnapshot(
        stage=stage,
        # The key holder's key is needed even if it was revoked meanwhile: then the stage fails.
        expected=1 if stage == wire.HE_KEYS else len(state["expected"]),
        received=len([s for s in received if s in state["expected"]]),
        threshold=1 if single else int(state["threshold"]),
        started_at=datetime.fromisoformat(state["started_at"]),
        deadline_seconds=deadline,
        mode=state.get("mode", wire.MASKING),
    )


def close_stage(
    session: Session, round_: Round, step: StageStep, now: datetime, length: int
) -> dict[str, Any]:
    """Fix who took part in the stage that ends and open the next one; returns the new state."""
    state = dict(round_.secagg or {})
    ended = state["stage"]
    senders = sorted(s for s in _senders(session, round_.id, ended) if s in state["expected"])
    roster = _roster(session, round_.id) if ended == wire.ADVERTISE_KEYS else {}
    state = closed(state, senders, roster, step.target, isoformat(now), length + 1)
    round_.secagg = state
    _audit_stage(session, round_, ended, step.target, len(senders), step.reason)
    return state


def _audit_stage(
    session: Session, round_: Round, ended: str, following: str, hospitals: int, reason: str
) -> None:
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action=AuditAction.SECAGG_STAGE,
        object=f"round:{round_.id}",
        details={"ended": ended, "next": following, "hospitals": hospitals, "reason": reason},
    )


def replace_key_holder(session: Session, round_: Round, now: datetime) -> bool:
    """A homomorphic round whose key holder has not sent the round's key by the deadline: the
    next member makes it, and the stage starts again. False if none can (too few are left)."""
    state = dict(round_.secagg or {})
    if state.get("mode") != wire.HOMOMORPHIC or state.get("stage") != wire.HE_KEYS:
        return False
    old = int(state["key_holder"])
    passed_over = [*state.get("passed_over", []), old]
    new = next_key_holder((int(k) for k in state["roster"]), passed_over, int(state["threshold"]))
    if new is None:
        return False
    state.update(key_holder=new, passed_over=passed_over, expected=[new], started_at=isoformat(now))
    round_.secagg = state
    reason = (
        f"hospital member {old} did not send the round's key by the deadline; "
        f"member {new} makes it instead"
    )
    _audit_stage(session, round_, wire.HE_KEYS, wire.HE_KEYS, 0, reason)
    return True


def unmasked_sum(session: Session, round_: Round) -> tuple[np.ndarray, int, list[int]]:
    """The weighted mean update, the total rows and the contributing member ids."""
    total, contributors = protocol.unmask_stored(
        round_ref(round_),
        round_.secagg or {},
        _messages(session, round_.id, wire.MASKED_INPUT),
        _messages(session, round_.id, wire.UNMASKING),
    )
    mean, rows = quantize.decode_mean(total)
    return mean, rows, contributors


HE_AGREEMENT = 1e-6  # two hospitals' decryptions of one sum differ by CKKS noise only


def decrypted_sum(session: Session, round_: Round) -> tuple[np.ndarray, int, list[int]]:
    """A homomorphic round's weighted mean update, total rows and contributing member ids, from
    the hospitals' decryptions of the encrypted sum: two must agree, and the rows the sum
    carries must be the rows the contributing hospitals declared."""
    state = round_.secagg or {}
    survivors = sorted(state["survivors"])
    plaintexts = [
        np.frombuffer(payload, dtype="<f8")
        for sender, payload in sorted(_messages(session, round_.id, wire.DECRYPTING).items())
        if sender in survivors
    ]
    if not plaintexts:
        raise protocol.ProtocolError("no hospital decrypted the sum")
    total = plaintexts[0]
    for other in plaintexts[1:]:
        scale = max(1.0, float(np.max(np.abs(total))))
        if float(np.max(np.abs(other - total))) > HE_AGREEMENT * scale:
            raise protocol.ProtocolError("two hospitals' decryptions of the sum disagree")
    declared = sum(m.rows for m in round_.members if m.id in survivors)
    rows = round(float(total[-1]))
    if rows != declared or declared <= 0:
        raise protocol.ProtocolError(
            f"the decrypted sum carries {rows} rows where the hospitals declared {declared}"
        )
    mean = total[:-1] / float(total[-1])
    bound = config_of(round_).norm_bound  # each hospital clips every value to it
    if float(np.max(np.abs(mean), initial=0.0)) > bound * (1 + HE_AGREEMENT):
        raise protocol.ProtocolError(
            "the decrypted mean lies outside the clipping bound: a hospital sent values it did "
            "not clip (or not under this round's key)"
        )
    return mean, rows, survivors
