"""Order tasks: checklist items of one order attempt (contract 2.4, 3.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime


class OrderTask(Base):
    """A task of one order row (attempt); deleted with its order."""

    __tablename__ = "order_task"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "order_id"], ["order.account_id", "order.id"], ondelete="CASCADE"
        ),
        Index("ix_order_task_account_order", "account_id", "order_id", "created_at"),
    )

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36))
    label: Mapped[str] = mapped_column(String(200))
    task_definition_id: Mapped[str | None] = mapped_column(String(36))
    description: Mapped[str | None] = mapped_column(String(2000))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    priority: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
