"""Order tasks: checklist items of one order attempt (contract 2.4, 3.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import OrderOwned, order_owned_args


class OrderTask(OrderOwned, Base):
    """A task of one order row (attempt); deleted with its order."""

    __tablename__ = "order_task"
    __table_args__ = order_owned_args("ix_order_task_account_order", listed_by="created_at")

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    task_definition_id: Mapped[str | None] = mapped_column(String(36))
    description: Mapped[str | None] = mapped_column(String(2000))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    priority: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
