"""The ingest inbox: positions stored but not yet run through their routes' pipeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import UTCDateTime
from routekeeper.models.mixins import FixValues


class PositionInbox(FixValues, Base):
    """One newly stored fix waiting for the tracking processor (``tracking/processor.py``).

    An upload writes its new positions here in the same transaction that stores them, so a
    fix answered with 200 is either processed or still here. The processor deletes the rows
    it took in the transaction that writes their outcome, so each is processed exactly once.
    The fix's values are copied, so processing reads this table only.
    """

    __tablename__ = "position_inbox"
    __table_args__ = (Index("ix_position_inbox_device", "account_id", "device_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
