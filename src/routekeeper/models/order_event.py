"""Timeline events of an order (``order_created``, ``order_completed``, custom events...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import OrderOwned, order_owned_args


class OrderEvent(OrderOwned, Base):
    """One entry of an order's timeline."""

    __tablename__ = "order_event"
    __table_args__ = order_owned_args("ix_order_event_order", listed_by="recorded_at")

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
