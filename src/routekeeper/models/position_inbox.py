"""The ingest inbox: positions stored but not yet run through their routes' pipeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import UTCDateTime


class PositionInbox(Base):
    """The fixes one upload group newly stored for one device, waiting for the tracking
    processor (``tracking/processor.py``): a *parcel*.

    An upload writes its new positions here in the same transaction that stores them, so a
    fix answered with 200 is either processed or still here. The processor deletes the
    parcels it took in the transaction that writes their outcome, so each fix is processed
    exactly once. The fixes' values are copied (``fixes``: a JSON array of
    ``[recorded_at, lon, lat, accuracy, speed, bearing, altitude, battery]``, oldest first),
    so processing reads this table only.

    One row a parcel rather than one a fix: a batch of 100 fixes was 100 rows inserted into
    the table and its two indexes and deleted again, and 100 rows for the processor to
    decode, column by column (about a fifth of PostgreSQL's and of the processor's work a
    batch; docs/benchmarks/ingest.md).
    """

    __tablename__ = "position_inbox"
    __table_args__ = (Index("ix_position_inbox_device", "account_id", "device_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fix_count: Mapped[int] = mapped_column(Integer)
    fixes: Mapped[str] = mapped_column(Text)


def waiting_fixes() -> ColumnElement[int]:
    """The number of fixes waiting in the inbox, as a SQL expression (health, metrics)."""
    return func.coalesce(func.sum(PositionInbox.fix_count), 0)


def backlog(session: Session) -> tuple[int, datetime | None]:
    """The fixes waiting in the inbox, and when the oldest was received (None: none waits);
    what health and the metrics report."""
    count = session.scalar(select(waiting_fixes())) or 0
    oldest = session.scalar(select(PositionInbox.received_at).order_by(PositionInbox.id)
                            .limit(1))
    return int(count), oldest
