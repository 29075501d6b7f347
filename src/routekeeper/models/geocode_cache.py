"""Geocoder answers kept per account, so a repeated address or region costs no request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class GeocodeCache(AccountOwned, Base):
    """One answer: an address's point and region (``search``) or a point's region (``reverse``)."""

    __tablename__ = "geocode_cache"

    # sha256 of the kind and the normalised query: addresses may be long, keys stay short.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    query: Mapped[str] = mapped_column(String(2000))
    result: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
