"""The node-facing API: enrollment and identity (nodes always call out; nothing calls in)."""

from __future__ import annotations

from fastapi import APIRouter

from medfed.server.api.schemas import EnrollIn, NodeCredentialPublic, NodePublic
from medfed.server.deps import ClientAddress, CurrentNode, DbSession
from medfed.server.services import enrollment

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.post("/enroll", response_model=NodeCredentialPublic, status_code=201)
def enroll(body: EnrollIn, db: DbSession, client: ClientAddress) -> NodeCredentialPublic:
    enrolled = enrollment.enroll_node(
        db,
        body.token,
        node_name=body.node_name,
        software_version=body.software_version,
        client=client,
    )
    return NodeCredentialPublic(
        node_id=enrolled.node.id,
        hospital_id=enrolled.node.hospital_id,
        hospital_name=enrolled.node.hospital.name,
        credential=enrolled.credential,
    )


@router.get("/me", response_model=NodePublic)
def me(node: CurrentNode) -> NodePublic:
    return NodePublic.model_validate(node)
