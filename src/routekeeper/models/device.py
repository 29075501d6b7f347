"""Devices: the phones and trackers that report a worker's positions, with their ingest keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class Device(AccountOwned, Base):
    """A device of an account, linked to one worker; its newest position is kept on the row.

    Only a hash of the ingest key is stored, with a short prefix of it to find the row by key
    (protocols such as OsmAnd send nothing but the key).
    """

    __tablename__ = "device"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "worker_handle"], ["worker.account_id", "worker.worker_handle"],
            ondelete="CASCADE",
        ),
        Index("ix_device_key_prefix", "key_prefix"),
        Index("ix_device_account_worker", "account_id", "worker_handle"),
    )

    device_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    worker_handle: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", PortableJSON, default=dict)
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    key_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The newest position by recorded_at (live location, public tracking, speed checks).
    last_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_lon: Mapped[float | None] = mapped_column(Float)
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_accuracy: Mapped[float | None] = mapped_column(Float)
    last_speed: Mapped[float | None] = mapped_column(Float)
    last_bearing: Mapped[float | None] = mapped_column(Float)
    last_altitude: Mapped[float | None] = mapped_column(Float)
    last_battery: Mapped[float | None] = mapped_column(Float)
