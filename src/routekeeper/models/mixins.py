"""Column groups that several tables share, declared once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.types import UTCDateTime


class AccountOwned:
    """A tenant's row: ``account_id`` first in its primary key (``sort_order``: mixin columns
    otherwise come last), deleted with its account."""

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("account.account_id", ondelete="CASCADE"), primary_key=True,
        sort_order=-1,
    )


class OrderOwned:
    """A row that belongs to one order (attempt): ``account_id`` first in its primary key, and
    its table arguments come from ``order_owned_args`` so that it is deleted with its order."""

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=-1)
    order_id: Mapped[str] = mapped_column(String(36))


def order_owned_args(index: str, listed_by: str) -> tuple[ForeignKeyConstraint, Index]:
    """An OrderOwned table's arguments: the reference to its order (the order's key is account
    and id), and the index that lists an order's rows by ``listed_by``."""
    return (
        ForeignKeyConstraint(
            ["account_id", "order_id"], ["order.account_id", "order.id"], ondelete="CASCADE"
        ),
        Index(index, "account_id", "order_id", listed_by),
    )


class Lifecycle:
    """The stamps that orders and routes share: created, last changed, and the steps from
    planned to completed (an order also records the steps in between)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FixValues:
    """What a device reported with one fix, besides who and when it was taken (stored
    positions); SI units, WGS 84."""

    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    bearing: Mapped[float | None] = mapped_column(Float)
    altitude: Mapped[float | None] = mapped_column(Float)
    battery: Mapped[float | None] = mapped_column(Float)
