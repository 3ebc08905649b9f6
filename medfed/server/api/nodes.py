"""The node-facing API: enrollment, policy, model download, contributions, privacy spend.

Nodes always call out; nothing here ever calls a node.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response

from medfed.core.catalog import get_disease
from medfed.fl.privacy import MAX_DELTA
from medfed.server.api.bodies import documented, update_fields
from medfed.server.api.schemas import (
    AuthorityPublic,
    CertificateRequestIn,
    ContributionIn,
    ContributionMetaIn,
    ContributionPublic,
    EnrollIn,
    InventoryIn,
    NetworkPolicyPublic,
    NodeCertificatePublic,
    NodeCredentialPublic,
    NodePublic,
    SpendReportIn,
    SpendReportPublic,
)
from medfed.server.db.tables import Node
from medfed.server.deps import (
    CertificateHolder,
    ClientAddress,
    CurrentNode,
    DbSession,
    SettingsDep,
)
from medfed.server.services import (
    authority,
    buffered,
    contributions,
    enrollment,
    inventory,
    registry,
)

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.get("/authority", response_model=AuthorityPublic)
def network_authority(request: Request) -> AuthorityPublic:
    """The network's certificate authority. A node checks it against the fingerprint in its
    enrollment token before trusting it, so this needs no authentication."""
    held = request.app.state.authority.get()
    return AuthorityPublic(certificate=held.pem, fingerprint=held.fingerprint)


@router.post("/enroll", response_model=NodeCredentialPublic, status_code=201)
def enroll(
    body: EnrollIn, db: DbSession, client: ClientAddress, request: Request, settings: SettingsDep
) -> NodeCredentialPublic:
    enrolled = enrollment.enroll_node(
        db,
        body.token,
        node_name=body.node_name,
        software_version=body.software_version,
        client=client,
        certificate_request=body.certificate_request,
        network_authority=request.app.state.authority.get(),
        certificate_days=settings.node_certificate_days,
    )
    return NodeCredentialPublic(
        node_id=enrolled.node.id,
        hospital_id=enrolled.node.hospital_id,
        hospital_name=enrolled.node.hospital.name,
        credential=enrolled.credential,
        certificate=_certificate_public(enrolled.certificate) if enrolled.certificate else None,
    )


@router.post("/me/certificate", response_model=NodeCertificatePublic, status_code=201)
def renew_certificate(
    body: CertificateRequestIn,
    holder: CertificateHolder,
    db: DbSession,
    request: Request,
    settings: SettingsDep,
) -> NodeCertificatePublic:
    """A new client certificate for the key in the request. A node asks with its current
    certificate before that expires; by its credential alone only for its first one (a node
    enrolled before the network issued certificates)."""
    caller, presented = holder
    if not presented and authority.has_certificate(db, caller.id):
        certificates = request.app.state.node_certificates
        if certificates.required(request.scope):
            enrollment.check_presented_certificate(caller, None, required=True)
    node = db.get(Node, caller.id)
    assert node is not None
    issued = authority.issue_for_node(
        db,
        request.app.state.authority.get(),
        node,
        body.certificate_request,
        days=settings.node_certificate_days,
        renewal=presented,
    )
    return _certificate_public(issued)


def _certificate_public(issued: authority.IssuedCertificate) -> NodeCertificatePublic:
    return NodeCertificatePublic(
        certificate=issued.certificate_pem,
        authority_certificate=issued.authority_pem,
        serial=issued.serial,
        expires_at=issued.expires_at,
    )


@router.put("/me/inventory", status_code=204, response_class=Response)
def report_inventory(body: InventoryIn, node: CurrentNode, db: DbSession) -> Response:
    """The node's software version, its hospital's registry counts and the models it holds
    (shown to administrators and data scientists in `GET /api/v1/network`)."""
    inventory.record(db, node, body.model_dump(mode="json"))
    return Response(status_code=204)


@router.get("/me", response_model=NodePublic)
def me(node: CurrentNode, db: DbSession) -> NodePublic:
    return NodePublic.model_validate(db.get(Node, node.id))


@router.get("/policy", response_model=NetworkPolicyPublic)
def policy(_: CurrentNode, settings: SettingsDep) -> NetworkPolicyPublic:
    return NetworkPolicyPublic(
        min_rows=settings.policy_min_rows,
        epsilon_cap=settings.policy_epsilon_cap
        if math.isfinite(settings.policy_epsilon_cap)
        else None,
        target_epsilon=settings.policy_target_epsilon,
        delta_max=MAX_DELTA,
    )


@router.get(
    "/models/{disease}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_model(
    disease: str,
    _: CurrentNode,
    db: DbSession,
    request: Request,
    line: Literal["served", "training"] = "served",
) -> Response:
    """A version's artifact (preprocessing statistics and weights, no patient data): the one
    doctors are served, or with `line=training` the training line's newest checkpoint, which
    buffered contributions train from."""
    spec = get_disease(disease)
    if line == "training":
        version = registry.training_head(db, spec.id)
    else:
        version = registry.active_version(db, spec.id)
    blob = request.app.state.artifact_store.get(version.artifact_key)
    return Response(
        blob,
        media_type="application/octet-stream",
        headers={
            "X-MedFed-Model-Version": version.version,
            "X-MedFed-Artifact-SHA256": version.artifact_key,
        },
    )


async def _contribution_body(request: Request) -> contributions.ContributionIn:
    fields = await update_fields(request, ContributionIn, ContributionMetaIn)
    return contributions.ContributionIn(**fields)


@router.post(
    "/contributions",
    response_model=ContributionPublic,
    status_code=201,
    openapi_extra=documented(
        ContributionIn,
        "A frame (see core/frames.py): ContributionIn's fields but `update` as its JSON "
        "header, then the parameter delta as raw little-endian float32.",
    ),
)
def contribute(
    node: CurrentNode,
    body: Annotated[contributions.ContributionIn, Depends(_contribution_body)],
    db: DbSession,
    settings: SettingsDep,
    request: Request,
) -> ContributionPublic:
    received = contributions.receive(
        db, request.app.state.model_cache, node, body, min_rows=settings.policy_min_rows
    )
    waiting, size = buffered.fill(db, received.disease)
    return ContributionPublic(
        id=received.id,
        disease=received.disease,
        rows=received.rows,
        status=received.status,
        message=(
            f"Buffered: {waiting} of the {size} contributions needed are waiting; they are "
            "aggregated into the next checkpoint on the training line once enough have arrived "
            "(plain + DP: the server sees this update, protected by its DP-SGD training)."
        ),
    )


@router.post("/privacy-spend", response_model=SpendReportPublic)
def report_spend(body: SpendReportIn, node: CurrentNode, db: DbSession) -> SpendReportPublic:
    entries = [contributions.SpendIn(**entry.model_dump()) for entry in body.entries]
    return SpendReportPublic(added=contributions.record_spend(db, node, entries))
