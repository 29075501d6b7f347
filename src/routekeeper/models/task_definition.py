"""Task definitions: reusable lists of order tasks (contract 2.4, 3.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class TaskDefinition(AccountOwned, Base):
    """A named template of tasks, optionally scoped to an ops group."""

    __tablename__ = "task_definition"
    __table_args__ = (
        Index("ix_task_definition_account_created", "account_id", "created_at",
              "task_definition_id"),
    )

    task_definition_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    ops_group_handle: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
