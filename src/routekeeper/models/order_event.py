"""Timeline events of an order (``order_created``, ``order_completed``, custom events...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime


class OrderEvent(Base):
    """One entry of an order's timeline."""

    __tablename__ = "order_event"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "order_id"], ["order.account_id", "order.id"], ondelete="CASCADE"
        ),
        Index("ix_order_event_order", "account_id", "order_id", "recorded_at"),
    )

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
