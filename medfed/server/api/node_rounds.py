"""The node's side of a round: find, join, fetch the base, submit, evaluate the candidate.

A refused update is audited in its own transaction (so the record survives the error) and the
error goes back to the node unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from medfed.core.errors import Conflict, MedFedError, PermissionDenied, ServiceUnavailable
from medfed.core.faults import crash_point
from medfed.fl.secagg import constants as wire
from medfed.server.api.bodies import documented, json_or_frame, update_fields, validated
from medfed.server.api.round_schemas import (
    EvaluationIn,
    JoinIn,
    JoinPublic,
    MemberStatusPublic,
    NodeRoundPublic,
    SecaggMessageIn,
    UpdateIn,
    UpdateMetaIn,
)
from medfed.server.bell import Bell
from medfed.server.bounds import IdPath
from medfed.server.deps import CurrentNode, DbSession, Reading, SettingsDep
from medfed.server.services import analytics, rounds, secagg
from medfed.server.services.enrollment import NodeRef
from medfed.server.services.rounds import UpdateIn as ServiceUpdateIn

router = APIRouter(prefix="/nodes/rounds", tags=["nodes"])
ANALYTICS_HEADER = "X-MedFed-Analytics"
# A node sends the listing tag it is acting on with each step; the answer carries the tag of the
# listing with that step in it when nothing else changed, so the node's next long poll waits
# instead of answering at once with the change the node itself just made.
LISTING_TAG = "X-MedFed-Listing-Tag"
# Below the usual proxy timeouts (60 s), so a held request is answered before a proxy cuts it.
MAX_WAIT_SECONDS = 55.0

TRAINING_KEYS = (
    "strategy",
    "local_epochs",
    "local_steps",
    "batch_size",
    "learning_rate",
    "proximal_mu",
    "validation_fraction",
    "target_epsilon",
    "budget_rounds",
    "norm_bound",
    "secure",
    "homomorphic",
)


def _public(view: rounds.NodeRoundView, secure: dict[str, Any] | None = None) -> NodeRoundPublic:
    config = view.config
    training = {key: config.get(key) for key in TRAINING_KEYS}
    training["homomorphic"] = bool(training["homomorphic"])
    if config.get("strategy") != "fedprox":
        training["proximal_mu"] = 0.0
    return NodeRoundPublic(
        id=view.id,
        disease=view.disease,
        number=view.number,
        status=view.status,
        base_version=view.base_version,
        result_version=view.result_version,
        reason=view.reason,
        training=training,
        min_rows=int(config["min_rows"]),
        my_status=view.my_status,
        members=view.members,
        stage=view.stage,
        base_artifact=view.base_artifact,
        candidate_artifact=view.candidate_artifact,
        secagg=secure,
    )


def _listed(db: Session, node: NodeRef, views: list[rounds.NodeRoundView]) -> list[dict[str, Any]]:
    """The listing, with the secure-aggregation view of each secure round this hospital is
    training in (one request per stage and node fewer)."""
    listing = []
    for view in views:
        secure = None
        if view.stage is not None and view.my_status in ("joined", "submitted"):
            with contextlib.suppress(MedFedError):  # not its part after all: it asks, is told why
                secure = secagg.view(db, node, view.id)
        listing.append(_public(view, secure).model_dump(mode="json"))
    return listing


def _artifact(request: Request, key: str, version: str) -> Response:
    return Response(
        request.app.state.artifact_store.get(key),
        media_type="application/octet-stream",
        headers={"X-MedFed-Model-Version": version, "X-MedFed-Artifact-SHA256": key},
    )


@router.get(
    "",
    response_model=list[NodeRoundPublic],
    responses={304: {"description": "Nothing changed for this node during the wait."}},
)
async def my_rounds(
    request: Request,
    node: CurrentNode,
    reader: Reading,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Long poll: with If-None-Match, hold the request up to this many "
            "seconds until this node's rounds change (a status, a stage or its own part), "
            "then answer; 304 if nothing changed.",
        ),
    ] = 0.0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Open rounds this node may join, and recent rounds its hospital is in. The ETag names
    what the node acts on; send it back as If-None-Match with `wait` to long-poll."""
    bell: Bell = request.app.state.bell
    recheck: float | None = request.app.state.bell_recheck
    hospital_id = node.hospital_id
    known = _tag_value(if_none_match) if wait > 0 else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    # A held request ends when its node hangs up (a node stopped, a proxy timed out), so a
    # server shutting down does not wait out the polls of nodes that are already gone.
    left = asyncio.ensure_future(_hung_up(request)) if known is not None else None
    try:
        with bell.subscribe(hospital_id) as subscription:
            while True:
                state, asked = await reader.lookup(lambda db: _listing_state(db, hospital_id))
                tag = _tag(state, asked)
                remaining = deadline - loop.time()
                if tag != known or remaining <= 0 or (left is not None and left.done()):
                    break
                try:
                    await subscription.wait(min(remaining, recheck or remaining), until=left)
                except asyncio.CancelledError:
                    # A stopping server cancels what still runs after its grace: the node is
                    # told to come back (503, which it retries with back-off), not sent a 500.
                    raise ServiceUnavailable(
                        "The server is restarting; ask again in a few seconds."
                    ) from None
    finally:
        if left is not None:
            left.cancel()
    # Analytics queries asked of this hospital change the tag too, and the header says how many
    # are live: the node then looks at them (GET /nodes/analytics), otherwise it need not ask.
    headers = {"ETag": f'W/"{tag}"', ANALYTICS_HEADER: str(len(asked))}
    if tag == known:
        return Response(status_code=304, headers=headers)
    listing = await reader.run_on_thread(
        lambda db: _listed(db, node, rounds.rounds_for_node(db, hospital_id))
    )
    return JSONResponse(listing, headers=headers)


async def _hung_up(request: Request) -> None:
    """Returns once the client has closed its connection (a GET has no body left to read, so
    the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _listing_state(
    db: Session | Connection, hospital_id: int
) -> tuple[list[tuple[int, str, str | None, str | None]], list[tuple[int, str, str | None, str]]]:
    return rounds.listing_state(db, hospital_id), analytics.listing_state(db, hospital_id)


def _tag(
    state: list[tuple[int, str, str | None, str | None]],
    asked: list[tuple[int, str, str | None, str]],
) -> str:
    listed: list[Any] = [*state, ["analytics", *asked]] if asked else state
    return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:24]


def _hand_over(
    request: Request,
    response: Response,
    db: Session,
    node: NodeRef,
    round_id: int,
    before: str | None,
) -> None:
    """Answer with the tag of this node's listing as it is now, if the listing the node acted on
    differs from it only by this step (this hospital's status in `round_id` was `before`).
    Both are read from one statement, so a change anyone else made meanwhile, in any round,
    shows and no tag is handed over: the node's next poll then answers at once."""
    sent = _tag_value(request.headers.get(LISTING_TAG))
    if sent is None:
        return
    db.flush()
    now, asked = _listing_state(db, node.hospital_id)
    then = [
        (rid, status, stage, before if rid == round_id else mine)
        for rid, status, stage, mine in now
    ]
    if _tag(then, asked) == sent:
        response.headers[LISTING_TAG] = _tag(now, asked)


def _tag_value(header: str | None) -> str | None:
    """The tag a node sent back (`W/"..."`, or a bare value from a hand-made request)."""
    if not header:
        return None
    value = header.strip()
    value = value.removeprefix("W/")
    return value.strip('"') or None


@router.get("/{round_id}", response_model=NodeRoundPublic)
def one_round(round_id: IdPath, node: CurrentNode, db: DbSession) -> NodeRoundPublic:
    found = rounds.rounds_for_node(db, node.hospital_id, round_id=round_id)
    if not found:
        rounds.get_round(db, round_id)  # says that there is no such round
        raise PermissionDenied(
            f"Round {round_id} is for named hospitals only, and this hospital is not one of them."
        )
    return _public(found[0])


@router.post("/{round_id}/join", response_model=JoinPublic, status_code=201)
def join(
    round_id: IdPath,
    body: JoinIn,
    node: CurrentNode,
    db: DbSession,
    request: Request,
    response: Response,
) -> JoinPublic:
    member = rounds.join(db, node, round_id, body.rows)
    _hand_over(request, response, db, node, round_id, None)
    secure = secagg.early_view(member.round, member)
    return JoinPublic(round_id=round_id, status=member.status, secagg=secure)


@router.get(
    "/{round_id}/base",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def base_model(round_id: IdPath, _: CurrentNode, db: DbSession, request: Request) -> Response:
    """The model this round trains from (not necessarily the active one by the time you ask)."""
    base = rounds.get_round(db, round_id).base_version
    return _artifact(request, base.artifact_key, base.version)


async def _update_body(request: Request) -> ServiceUpdateIn:
    return ServiceUpdateIn(**await update_fields(request, UpdateIn, UpdateMetaIn))


@router.post(
    "/{round_id}/update",
    response_model=MemberStatusPublic,
    status_code=201,
    openapi_extra=documented(
        UpdateIn,
        "A frame (see core/frames.py): UpdateIn's fields but `update` as its JSON header, "
        "then the parameter delta as raw little-endian float32.",
    ),
)
def submit(
    round_id: IdPath,
    node: CurrentNode,
    body: Annotated[ServiceUpdateIn, Depends(_update_body)],
    db: DbSession,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> MemberStatusPublic:
    try:
        member = rounds.submit(db, request.app.state.model_cache, node, round_id, body)
    except MedFedError as refused:
        db.rollback()
        rounds.record_refusal(db, node, round_id, refused.message)
        db.commit()
        raise
    _hand_over(request, response, db, node, round_id, "joined")
    crash_point(settings, "submit:before_commit")
    return MemberStatusPublic(round_id=round_id, status=member.status)


@router.get("/{round_id}/secagg")
def secagg_view(round_id: IdPath, node: CurrentNode, db: DbSession) -> dict[str, Any]:
    """The secure-aggregation stage, and what this hospital needs for it."""
    return secagg.view(db, node, round_id)


@router.get(
    "/{round_id}/secagg/aggregate",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def encrypted_sum(round_id: IdPath, node: CurrentNode, db: DbSession) -> Response:
    """A homomorphic round's encrypted sum (framed CKKS ciphertexts), for a hospital of the
    round to decrypt at the decrypting stage."""
    blob = secagg.aggregate(db, node, round_id)
    return Response(blob, media_type="application/octet-stream")


async def _stage_message(request: Request) -> dict[str, Any]:
    data, vector = await json_or_frame(request)
    message = validated(SecaggMessageIn, data).model_dump()
    if vector is not None:  # the masked input, raw
        message[wire.MASKED] = vector
    return message


@router.post(
    "/{round_id}/secagg/{stage}",
    response_model=MemberStatusPublic,
    status_code=201,
    openapi_extra=documented(
        SecaggMessageIn,
        "For the masked_input stage, a frame (see core/frames.py): the message's other fields "
        "as its JSON header, then the masked vector as raw little-endian uint64.",
    ),
)
def secagg_message(
    round_id: IdPath,
    stage: str,
    node: CurrentNode,
    message: Annotated[dict[str, Any], Depends(_stage_message)],
    db: DbSession,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> MemberStatusPublic:
    """One stage's message: keys, encrypted shares, the masked update, or unmasking shares."""
    try:
        member = secagg.receive(db, node, round_id, stage, message)
    except MedFedError as refused:
        db.rollback()
        rounds.record_refusal(db, node, round_id, f"{stage}: {refused.message}")
        db.commit()
        raise
    # the masked or encrypted update submits
    before = "joined" if stage in (wire.MASKED_INPUT, wire.ENCRYPTED_INPUT) else member.status
    _hand_over(request, response, db, node, round_id, before)
    crash_point(settings, f"secagg:{stage}:before_commit")
    return MemberStatusPublic(round_id=round_id, status=member.status)


@router.get(
    "/{round_id}/candidate",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def candidate_model(
    round_id: IdPath, node: CurrentNode, db: DbSession, request: Request
) -> Response:
    """The aggregated candidate, for the cohort's federated evaluation."""
    round_ = rounds.get_round(db, round_id)
    if rounds.member_of(round_, node) is None:
        raise PermissionDenied(f"This node is not in the cohort of round {round_id}.")
    if round_.candidate_key is None:
        raise Conflict(f"Round {round_id} has no candidate yet ({round_.status}).")
    return _artifact(request, round_.candidate_key, f"round {round_id} candidate")


@router.get(
    "/{round_id}/served",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def served_model(round_id: IdPath, node: CurrentNode, db: DbSession, request: Request) -> Response:
    """The version doctors were served when the candidate was made: the cohort scores both on
    the same local rows, so the promotion rule can pair them."""
    round_ = rounds.get_round(db, round_id)
    if rounds.member_of(round_, node) is None:
        raise PermissionDenied(f"This node is not in the cohort of round {round_id}.")
    served = rounds.served_version(db, round_)
    if served is None:
        raise Conflict(f"Round {round_id} has no candidate yet ({round_.status}).")
    return _artifact(request, served.artifact_key, f"round {round_id} served version")


@router.post("/{round_id}/evaluation", response_model=MemberStatusPublic)
def evaluation(
    round_id: IdPath,
    body: EvaluationIn,
    node: CurrentNode,
    db: DbSession,
    request: Request,
    response: Response,
) -> MemberStatusPublic:
    member = rounds.report_evaluation(
        db,
        node,
        round_id,
        rows=body.rows,
        base=body.base,
        candidate=body.candidate,
        paired=body.paired_sums(),
    )
    _hand_over(request, response, db, node, round_id, "submitted")
    return MemberStatusPublic(round_id=round_id, status=member.status)
