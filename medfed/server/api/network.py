"""The network at a glance for those who train: every hospital and its nodes."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from medfed.server.deps import DbSession, ScienceUser
from medfed.server.services import accounts, authority

router = APIRouter(tags=["network"])


class RegistryCountsPublic(BaseModel):
    patients: int
    admissions: int
    diagnoses: int


class HeldModelPublic(BaseModel):
    disease: str
    kind: str  # "global": the network's served model; "local": the hospital's fine-tuned one
    version: str
    base_version: str
    kept_at: datetime


class NetworkNodePublic(BaseModel):
    id: int
    name: str
    software_version: str
    enrolled_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    certificate_expires_at: datetime | None
    registered: RegistryCountsPublic | None  # counts only; null until reported or not shared
    models_held: list[HeldModelPublic]
    reported_at: datetime | None


class NetworkHospitalPublic(BaseModel):
    id: int
    name: str
    is_active: bool
    nodes: list[NetworkNodePublic]


@router.get("/network", response_model=list[NetworkHospitalPublic])
def network(_: ScienceUser, db: DbSession) -> list[NetworkHospitalPublic]:
    """Each hospital (its id names it in a round's or campaign's `hospitals`) and its nodes:
    software version, last seen, state, certificate expiry, and what each node last reported:
    its hospital's registry counts (never a record) and the models it holds."""
    hospitals = accounts.list_hospitals(db)
    nodes = {h.id: accounts.list_nodes(db, h.id) for h in hospitals}
    expiry = authority.latest_expiry(db, [n.id for group in nodes.values() for n in group])
    return [
        NetworkHospitalPublic(
            id=h.id,
            name=h.name,
            is_active=h.is_active,
            nodes=[
                NetworkNodePublic(
                    id=n.id,
                    name=n.name,
                    software_version=n.software_version,
                    enrolled_at=n.enrolled_at,
                    last_seen_at=n.last_seen_at,
                    revoked_at=n.revoked_at,
                    certificate_expires_at=expiry.get(n.id),
                    registered=(n.inventory or {}).get("registry"),
                    models_held=(n.inventory or {}).get("models", []),
                    reported_at=n.inventory_at,
                )
                for n in nodes[h.id]
            ],
        )
        for h in hospitals
    ]
