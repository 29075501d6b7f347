"""Webhook endpoints: where an account's events are POSTed, and how they are signed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class WebhookEndpoint(AccountOwned, Base):
    """A receiver URL of an account; deleting one keeps the row (``deleted_at``) for history."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_account", "account_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    # None means every event; otherwise "order", "order.completed", "route.started"...
    event_types: Mapped[list[str] | None] = mapped_column(PortableJSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Standard Webhooks form ``whsec_<base64>``; kept readable because HMAC needs the key.
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Start of the current run of failed attempts (None while the receiver answers).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # What became of the email telling the account's contact about an automatic disable.
    disabled_notification: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
