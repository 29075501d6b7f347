"""Plans: one per account, ops group and fulfilment day; each planning run bumps its sequence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import UTCDateTime
from routekeeper.models.mixins import AccountOwned


class Plan(AccountOwned, Base):
    """The plan of one ops group for one day (in the group's time zone)."""

    __tablename__ = "plan"
    __table_args__ = (
        UniqueConstraint("account_id", "ops_group_handle", "fulfillment_date",
                         name="uq_plan_group_day"),
        Index("ix_plan_account_created", "account_id", "created_at", "plan_id"),
    )

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ops_group_handle: Mapped[str] = mapped_column(String(200))
    fulfillment_date: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16), default="planning")
    sequence_number: Mapped[int] = mapped_column(Integer, default=0)
    plan_mode: Mapped[str] = mapped_column(String(16), default="scheduled")
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    # A queued run not yet started: further requests join it instead of queueing another.
    pending_job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
