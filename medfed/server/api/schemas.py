"""Request bodies (`...In`) and response shapes (`...Public`) of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medfed.core.security import MIN_PASSWORD_LENGTH
from medfed.server.bounds import MAX_INT, Id


class StrictIn(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def first_problem(invalid: ValidationError, skip: tuple[str, ...] = ()) -> tuple[str, str]:
    """(where, what) of a validation error's first problem, for a form or a command line."""
    first = invalid.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part not in skip)
    return where, str(first["msg"])


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable, machine-readable code, e.g. invalid_input.")
    message: str = Field(description="What is wrong and how to fix it, in words.")
    field: str | None = Field(None, description="The field at fault, when there is one.")


class ErrorOut(BaseModel):
    """Every error the API answers has this shape."""

    error: ErrorDetail


ERROR_STATUSES = {
    400: "Malformed request (e.g. a body that is not JSON).",
    401: "No valid token or credential; log in again.",
    403: "Known, but not allowed to do this.",
    404: "No such record.",
    409: "Conflicts with the current state (e.g. a round that is no longer open).",
    413: "The body is larger than the server accepts.",
    415: "The body's media type is not one this operation reads.",
    422: "Bad input: the message names the field and what it accepts.",
    429: "Too many requests; the Retry-After header says when to try again.",
    503: "The database is unavailable; see /readyz.",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in ERROR_STATUSES.items()
}


class PublicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(StrictIn):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class UserPublic(PublicOut):
    id: int
    username: str
    display_name: str
    role: str
    hospital_id: int | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserIn(StrictIn):
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: Literal["admin", "data_scientist", "hospital", "doctor"]
    display_name: str | None = Field(default=None, max_length=120)
    hospital_id: Id | None = None


class UserUpdateIn(StrictIn):
    is_active: bool


class HospitalIn(StrictIn):
    name: str = Field(min_length=2, max_length=200)


class HospitalPublic(PublicOut):
    id: int
    name: str
    created_at: datetime
    is_active: bool


class EnrollmentTokenPublic(BaseModel):
    hospital_id: int
    enrollment_token: str
    expires_at: str
    instructions: str


class HospitalCreatedPublic(BaseModel):
    hospital: HospitalPublic
    enrollment: EnrollmentTokenPublic


class NodePublic(PublicOut):
    id: int
    hospital_id: int
    name: str
    software_version: str
    enrolled_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


class ReasonIn(StrictIn):
    reason: str = Field(
        min_length=1, max_length=200, description="Why: kept in the audit trail with the change."
    )


class RotatedCredentialPublic(BaseModel):
    """A node's new credential: shown once, never stored in the clear by the server."""

    node_id: int
    credential: str
    instructions: str


CSR_HELP = (
    "The node's certificate request (PEM, ECDSA P-256): the server signs a client certificate "
    "for the key in it; the private key never leaves the node."
)


class EnrollIn(StrictIn):
    token: str = Field(min_length=1, max_length=200)
    node_name: str = Field(min_length=2, max_length=120)
    software_version: str = Field(min_length=1, max_length=40)
    certificate_request: str | None = Field(None, max_length=4000, description=CSR_HELP)


class RegistryCountsIn(StrictIn):
    patients: int = Field(ge=0, le=MAX_INT)
    admissions: int = Field(ge=0, le=MAX_INT)
    diagnoses: int = Field(ge=0, le=MAX_INT)


class HeldModelIn(StrictIn):
    disease: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    kind: Literal["global", "local"]
    version: str = Field(min_length=1, max_length=80)
    base_version: str = Field(min_length=1, max_length=40)
    kept_at: datetime


class InventoryIn(StrictIn):
    """What a node says about itself: counts only, never a record."""

    software_version: str = Field(min_length=1, max_length=40)
    registry: RegistryCountsIn | None = Field(
        None, description="How much the hospital registered at the node; null if not shared."
    )
    models: list[HeldModelIn] = Field(default_factory=list, max_length=200)


class CertificateRequestIn(StrictIn):
    certificate_request: str = Field(max_length=4000, description=CSR_HELP)


class NodeCertificatePublic(BaseModel):
    certificate: str = Field(description="The node's client certificate (PEM).")
    authority_certificate: str = Field(description="The network's certificate authority (PEM).")
    serial: str
    expires_at: datetime


class NodeCredentialPublic(BaseModel):
    node_id: int
    hospital_id: int
    hospital_name: str
    credential: str
    certificate: NodeCertificatePublic | None = None


class AuthorityPublic(BaseModel):
    certificate: str = Field(description="The network's certificate authority (PEM).")
    fingerprint: str = Field(description="SHA-256 of its DER form, lower-case hex.")


class AuditEventPublic(PublicOut):
    seq: int
    occurred_at: str
    actor: str
    action: str
    object: str | None
    outcome: str
    details: dict[str, Any]
    row_hash: str


class AuditVerdictPublic(BaseModel):
    ok: bool
    rows_checked: int
    first_bad_seq: int | None
    problem: str | None
    head_hash: str
    summary: str


class NetworkPolicyPublic(BaseModel):
    min_rows: int
    epsilon_cap: float | None = Field(description="null: the network sets no cap.")
    target_epsilon: float
    delta_max: float


class ContributionMetaIn(StrictIn):
    """A contribution's fields: the JSON body without `update`, or a binary frame's header."""

    disease: str = Field(min_length=1, max_length=40)
    base_version: str = Field(min_length=1, max_length=20)
    job_ref: str = Field(min_length=1, max_length=64)
    rows: int = Field(ge=1, le=MAX_INT)
    epsilon: float | None = Field(default=None, ge=0)
    delta: float | None = Field(default=None, ge=0, le=1)
    metrics: dict[str, dict[str, float | int | None]] = Field(default_factory=dict)


class ContributionIn(ContributionMetaIn):
    update: str = Field(description="Parameter delta, little-endian float32, base64.")


class ContributionPublic(BaseModel):
    id: int
    disease: str
    rows: int
    status: str
    message: str = Field(description="What happens to it next, in words.")


class SpendEntryIn(StrictIn):
    entry_ref: str = Field(min_length=1, max_length=64)
    disease: str = Field(min_length=1, max_length=40)
    epsilon: float = Field(ge=0)
    delta: float = Field(ge=0, le=1)


class SpendReportIn(StrictIn):
    entries: list[SpendEntryIn] = Field(max_length=10_000)


class SpendReportPublic(BaseModel):
    added: int
