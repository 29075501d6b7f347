"""Order exports: one row per ``POST /orders/export``, kept after its job row is pruned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class OrderExport(AccountOwned, Base):
    """An export of an account's orders to CSV.gz; its ``id`` is also its durable job's id."""

    __tablename__ = "order_export"
    __table_args__ = (
        # Download links carry only the id, so it must find the row without the account.
        Index("ix_order_export_id", "id", unique=True),
        # The database decides between two concurrent requests with the same key.
        Index("uq_order_export_idempotency", "account_id", "idempotency_key", unique=True),
        Index("ix_order_export_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # pending -> processing -> completed | failed (the contract's values).
    status: Mapped[str] = mapped_column(String(16))
    # What is exported: "orders" (POST /orders/export) or "workers" (POST /workers/export).
    kind: Mapped[str] = mapped_column(String(16), default="orders", server_default="orders")
    filters: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    email_recipients: Mapped[list[str]] = mapped_column(PortableJSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_digest: Mapped[str | None] = mapped_column(String(64))
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    # The store the file went to ("local" or "s3") and its key there; None until completed.
    storage: Mapped[str | None] = mapped_column(String(8))
    storage_key: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error_message: Mapped[str | None] = mapped_column(Text)
    mail_status: Mapped[str | None] = mapped_column(String(16))
    mail_error: Mapped[str | None] = mapped_column(Text)
    mail_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
