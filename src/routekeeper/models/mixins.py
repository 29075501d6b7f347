"""Column groups that several tables share, declared once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.types import UTCDateTime


class AccountOwned:
    """A tenant's row: ``account_id`` first in its primary key (``sort_order``: mixin columns
    otherwise come last), deleted with its account."""

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("account.account_id", ondelete="CASCADE"), primary_key=True,
        sort_order=-1,
    )


class FixValues:
    """What a device reported with one fix, besides who and when it was taken (stored
    positions and the ingest inbox); SI units, WGS 84."""

    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    bearing: Mapped[float | None] = mapped_column(Float)
    altitude: Mapped[float | None] = mapped_column(Float)
    battery: Mapped[float | None] = mapped_column(Float)
