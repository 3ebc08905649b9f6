"""Tables of federated analytics: the questions asked, each hospital's part in one, and the
secure-aggregation messages of a network-wide answer. Change them only through a migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medfed.core.clock import utcnow
from medfed.server.db.base import Base, UTCDateTime
from medfed.server.db.tables import Hospital

QUERY_STATUSES = ("collecting", "aggregating", "released", "failed", "cancelled")
MEMBER_STATUSES = ("asked", "joined", "answered", "declined", "dropped")


class AnalyticsQuery(Base):
    """One question asked of the network: what (`query`, the fields of analytics.query.Query),
    how it is answered (network-wide through secure aggregation, or per site by name), and once
    released, only the noisy figures (`result`)."""

    __tablename__ = "analytics_queries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('collecting', 'aggregating', 'released', 'failed', 'cancelled')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    disease: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    per_site: Mapped[bool] = mapped_column(Boolean, default=False)
    min_hospitals: Mapped[int] = mapped_column(Integer)
    collect_seconds: Mapped[float] = mapped_column(Float)
    stage_seconds: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="collecting")
    reason: Mapped[str | None] = mapped_column(String(500))
    secagg: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    asked_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    members: Mapped[list[AnalyticsMember]] = relationship(
        back_populates="query", order_by="AnalyticsMember.id"
    )


class AnalyticsMember(Base):
    """A hospital asked one question: what it did (joined the secure sum, answered by name,
    declined with its reason, or dropped out) and what it spent. `answer` holds a per-site
    answer only (the hospital's figures with all of its own noise in, released by name as its
    policy allows); a network-wide answer never sits here, only its masked form."""

    __tablename__ = "analytics_members"
    __table_args__ = (
        UniqueConstraint("query_id", "hospital_id", name="uq_analytics_members_query_hospital"),
        CheckConstraint(
            "status IN ('asked', 'joined', 'answered', 'declined', 'dropped')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(
        ForeignKey("analytics_queries.id", ondelete="CASCADE"), index=True
    )
    hospital_id: Mapped[int] = mapped_column(
        ForeignKey("hospitals.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="asked")
    reason: Mapped[str | None] = mapped_column(String(500))
    epsilon: Mapped[float | None] = mapped_column(Float)
    delta: Mapped[float | None] = mapped_column(Float)
    min_cell: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    query: Mapped[AnalyticsQuery] = relationship(back_populates="members")
    hospital: Mapped[Hospital] = relationship()


class AnalyticsMessage(Base):
    """One hospital's message at one stage of a query's secure aggregation (masked or sealed)."""

    __tablename__ = "analytics_messages"
    __table_args__ = (
        UniqueConstraint(
            "query_id", "stage", "sender", name="uq_analytics_messages_query_stage_sender"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(
        ForeignKey("analytics_queries.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(32))
    sender: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
