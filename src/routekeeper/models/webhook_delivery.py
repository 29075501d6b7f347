"""Webhook deliveries: one row per (endpoint, event), with its attempts and outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import UTCDateTime


class WebhookDelivery(Base):
    """An event on its way to one endpoint; rows of one batch are sent and updated together."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "endpoint_id"],
            ["webhook_endpoint.account_id", "webhook_endpoint.id"],
            ondelete="CASCADE",
        ),
        # The dispatcher's scan: an endpoint's pending rows by due time.
        Index("ix_webhook_delivery_due", "endpoint_id", "status", "next_attempt_at"),
        # The sweep's scan for overdue deliveries of any endpoint.
        Index("ix_webhook_delivery_pending", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_batch", "batch_id"),
        Index("ix_webhook_delivery_endpoint", "account_id", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_delivery_event", "event_id", "endpoint_id"),
        # One original delivery per (endpoint, event); only replays add more.
        Index(
            "uq_webhook_delivery_original", "endpoint_id", "event_id", unique=True,
            sqlite_where=text("NOT replay"), postgresql_where=text("NOT replay"),
        ),
    )

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("outbox_event.id", ondelete="CASCADE")
    )
    # The outbox sequence of the event: the order of events inside a batch.
    event_seq: Mapped[int] = mapped_column(BigInteger)
    # pending -> delivered | rejected | failed | cancelled
    status: Mapped[str] = mapped_column(String(16))
    replay: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fixed at the first attempt, so every retry sends the same events under the same id.
    batch_id: Mapped[str | None] = mapped_column(String(36))
    webhook_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_response_text: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The lease of the sender that holds the batch; an expired lease means it died.
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
