"""Positions: every fix a device reported, once per (account, device, recorded_at)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import UTCDateTime
from routekeeper.models.mixins import FixValues


class Position(FixValues, Base):
    """One stored fix; SI units (metres, m/s, degrees, percent), WGS 84.

    The primary key doubles as the idempotency key and ends with ``recorded_at``, so the table
    can be range-partitioned by time on PostgreSQL (a partitioned table's unique keys must
    contain the partition key); there is no foreign key, for the same reason and for cheap
    bulk inserts (see docs/tracking.md).
    """

    __tablename__ = "position"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
