"""Estimated routes: the drive behind one ETA webhook, fetched by its id (contract 2.7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class EstimatedRoute(AccountOwned, Base):
    """The estimated drive from the worker's position to one order, as of one ETA event."""

    __tablename__ = "estimated_route"

    estimated_route_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36))
    polyline: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    start_location: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    end_location: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    distance: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
