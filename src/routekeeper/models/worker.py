"""Workers: the people who drive routes, with skills, capacity and schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class Worker(AccountOwned, Base):
    """A worker of an account; deleting one keeps the row (``deleted_at``) for history."""

    __tablename__ = "worker"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "ops_group_handle"],
            ["ops_group.account_id", "ops_group.ops_group_handle"],
        ),
        Index("ix_worker_account_ops_group", "account_id", "ops_group_handle"),
    )

    worker_handle: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    profile: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    ops_group_handle: Mapped[str] = mapped_column(String(200), default="default")
    product_types: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    capacity: Mapped[int | None] = mapped_column(Integer)
    home: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    unavailable_on: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    # work_status.tracking: set by POST /workers/{h}/work_status, or derived from its
    # routes when the ops group automates it (workers/status.py).
    tracking: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    device_ids: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
