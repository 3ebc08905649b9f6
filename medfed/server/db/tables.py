"""Tables of the accounts and audit schema. Change them only through an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medfed.core.clock import utcnow
from medfed.server.db.base import Base, UTCDateTime

ROLES = ("admin", "data_scientist", "hospital", "doctor")


class Hospital(Base):
    __tablename__ = "hospitals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    show_on_leaderboard: Mapped[bool] = mapped_column(Boolean, default=True)

    nodes: Mapped[list[Node]] = relationship(back_populates="hospital")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'hospital', 'doctor', 'data_scientist')", name="role_known"
        ),
        CheckConstraint(
            "(role = 'hospital') = (hospital_id IS NOT NULL)", name="hospital_staff_have_hospital"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    hospital_id: Mapped[int | None] = mapped_column(
        ForeignKey("hospitals.id", ondelete="RESTRICT"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital | None] = relationship()


class AuthToken(Base):
    """A web session (`kind='session'`) or an API bearer token (`kind='api'`), stored hashed."""

    __tablename__ = "auth_tokens"
    __table_args__ = (CheckConstraint("kind IN ('session', 'api')", name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hospital_id: Mapped[int] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id", ondelete="SET NULL"))


class Node(Base):
    """A hospital's node: the software that holds the data and trains locally."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hospital_id: Mapped[int] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    software_version: Mapped[str] = mapped_column(String(40))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the node last reported: counts of what its hospital registered (never records) and
    # the models it holds; None until it reports (or when its hospital's policy says not to).
    inventory: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    inventory_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital] = relationship(back_populates="nodes")


class CertificateAuthority(Base):
    """The network's one certificate authority; its key sealed with the server's secret key."""

    __tablename__ = "certificate_authority"
    __table_args__ = (CheckConstraint("id = 1", name="ck_certificate_authority_single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    sealed_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NodeCertificate(Base):
    """A client certificate the authority issued to a node (at enrollment or renewal)."""

    __tablename__ = "node_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Login attempts per address and failures per account and address, shared by every
    server process (`services/throttle.py`); times are epoch seconds."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    locked_until: Mapped[float | None] = mapped_column(Float)


class AuditEvent(Base):
    """Append-only (database triggers refuse UPDATE and DELETE); hash-chained by `seq`."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and hash; taking it serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_hash: Mapped[str] = mapped_column(String(64))


class ModelVersion(Base):
    """An immutable model version; exactly one per disease is active (a partial unique index)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("disease", "major", "minor", name="uq_model_versions_disease_version"),
        Index(
            "ix_model_versions_one_active",
            "disease",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
        CheckConstraint("status IN ('deployed', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    disease: Mapped[str] = mapped_column(String(40), index=True)
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    # "promoted": passed promotion (or a baseline) and may be served; "trained": a checkpoint on
    # the training line that rounds continue from but doctors never get unless promoted.
    stage: Mapped[str] = mapped_column(String(16), default="promoted", server_default="promoted")
    schema_hash: Mapped[str] = mapped_column(String(64))
    architecture: Mapped[str] = mapped_column(String(80))
    artifact_key: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    contributing_hospitals: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def version(self) -> str:
        return f"v{self.major}.{self.minor}"

    @property
    def state(self) -> str:
        """What people are told: in service, promoted (can be served again), or trained only."""
        if self.is_active:
            return "in service"
        return "promoted" if self.stage == "promoted" else "trained"


class Prediction(Base):
    """Metadata of each prediction; the inputs only when the doctor opted in for that request."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    disease: Mapped[str] = mapped_column(String(40), index=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    probability: Mapped[float] = mapped_column(Float)
    risk_band: Mapped[str] = mapped_column(String(16))
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    arm: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    outcome: Mapped[int | None] = mapped_column(Integer)
    outcome_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    model_version: Mapped[ModelVersion] = relationship()


class Contribution(Base):
    """A node's model update: the parameter delta from its base version, and numbers about it."""

    __tablename__ = "contributions"
    __table_args__ = (UniqueConstraint("node_id", "job_ref", name="uq_contributions_node_job"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hospital_id: Mapped[int] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    disease: Mapped[str] = mapped_column(String(40), index=True)
    base_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    job_ref: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    epsilon: Mapped[float | None] = mapped_column(Float)
    delta: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    update_blob: Mapped[bytes] = mapped_column(LargeBinary)
    update_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrivacySpend(Base):
    """One ledger entry a node reported: numbers only."""

    __tablename__ = "privacy_spend"
    __table_args__ = (UniqueConstraint("node_id", "entry_ref", name="uq_privacy_spend_node_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hospital_id: Mapped[int] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    disease: Mapped[str] = mapped_column(String(40))
    entry_ref: Mapped[str] = mapped_column(String(64))
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Challenger(Base):
    """A/B deployment: a version served to a stable share of doctors beside the active one."""

    __tablename__ = "challengers"
    __table_args__ = (CheckConstraint("share > 0 AND share < 1", name="share_between"),)

    disease: Mapped[str] = mapped_column(String(40), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    share: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(80))

    version: Mapped[ModelVersion] = relationship()


LIVE_ROUND = "status IN ('open', 'training', 'evaluating')"


class Round(Base):
    """One federated round of one disease; all of its state lives here and in its members."""

    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("disease", "number", name="uq_rounds_disease_number"),
        Index(
            "ix_rounds_one_live",
            "disease",
            unique=True,
            sqlite_where=text(LIVE_ROUND),
            postgresql_where=text(LIVE_ROUND),
        ),
        CheckConstraint(
            "status IN ('open', 'training', 'evaluating', 'deployed', 'rejected', 'failed')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    disease: Mapped[str] = mapped_column(String(40), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    base_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_by: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cohort_fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    candidate_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    candidate_key: Mapped[str | None] = mapped_column(String(64))
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    strategy_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secagg: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )

    base_version: Mapped[ModelVersion] = relationship(foreign_keys=[base_version_id])
    result_version: Mapped[ModelVersion | None] = relationship(foreign_keys=[result_version_id])
    members: Mapped[list[RoundMember]] = relationship(
        back_populates="round", order_by="RoundMember.id"
    )


class RoundMember(Base):
    """A hospital in a round's cohort: joined, then submitted (its update), then evaluated."""

    __tablename__ = "round_members"
    __table_args__ = (
        UniqueConstraint("round_id", "hospital_id", name="uq_round_members_round_hospital"),
        CheckConstraint(
            "status IN ('joined', 'submitted', 'evaluated', 'dropped')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    hospital_id: Mapped[int] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="joined")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contribution_id: Mapped[int | None] = mapped_column(
        ForeignKey("contributions.id", ondelete="RESTRICT"), unique=True
    )
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    round: Mapped[Round] = relationship(back_populates="members")
    hospital: Mapped[Hospital] = relationship()
    contribution: Mapped[Contribution | None] = relationship()


ACTIVE_CAMPAIGN = "status IN ('running', 'paused')"


class Campaign(Base):
    """A training campaign: a plan that opens a disease's rounds by itself (fl/campaigns.py).
    Its progress is read from its rounds, so nothing here needs updating round by round."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index(
            "ix_campaigns_one_active",
            "disease",
            unique=True,
            sqlite_where=text(ACTIVE_CAMPAIGN),
            postgresql_where=text(ACTIVE_CAMPAIGN),
        ),
        CheckConstraint(
            "status IN ('running', 'paused', 'finished', 'cancelled')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    disease: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    round_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_for: Mapped[str | None] = mapped_column(String(200))

    rounds: Mapped[list[Round]] = relationship(secondary="campaign_rounds", order_by="Round.id")


class CampaignRound(Base):
    """Which campaign opened a round (a round belongs to at most one)."""

    __tablename__ = "campaign_rounds"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )


class ContributionBuffer(Base):
    """Buffered contributions switched on for a disease (fl/buffered.py); no row: off."""

    __tablename__ = "contribution_buffers"

    disease: Mapped[str] = mapped_column(String(40), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled_by: Mapped[str] = mapped_column(String(80))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SecaggMessage(Base):
    """One hospital's message at one stage of a round's secure aggregation (opaque to the server
    except where the protocol says otherwise); at most one per sender and stage."""

    __tablename__ = "secagg_messages"
    __table_args__ = (
        UniqueConstraint(
            "round_id", "stage", "sender", name="uq_secagg_messages_round_stage_sender"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    sender: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
