"""The event outbox: one row per state change, written in the change's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime

# SQLite only autoincrements a lone INTEGER PRIMARY KEY.
_BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxEvent(Base):
    """An event for webhooks; ``payload`` is the envelope exactly as it goes on the wire."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_account_order", "account_id", "order_handle", "created_at"),
        Index("ix_outbox_event_account_created", "account_id", "created_at"),
    )

    # A global sequence gives dispatchers a cheap, gap-tolerant cursor over new events.
    seq: Mapped[int] = mapped_column(_BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    order_handle: Mapped[str | None] = mapped_column(String(200))
    order_id: Mapped[str | None] = mapped_column(String(36))
    route_handle: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
