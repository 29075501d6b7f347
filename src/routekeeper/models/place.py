"""Places (HyperTrack's Places API): named geofences that orders can take as destinations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class Place(AccountOwned, Base):
    """A place of one account; ``place_id`` is also the ``geofence_id`` orders may name."""

    __tablename__ = "place"
    __table_args__ = (
        UniqueConstraint("account_id", "place_handle", name="uq_place_account_handle"),
        Index("ix_place_account_created", "account_id", "created_at", "place_id"),
    )

    place_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    place_handle: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(500))
    geometry: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    radius: Mapped[int | None] = mapped_column(Integer)
    # Representative point (a Polygon's vertex mean), for the lat/lon/radius filter.
    center_lon: Mapped[float] = mapped_column(Float)
    center_lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(1000))
    address_components: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    region: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    place_type: Mapped[str | None] = mapped_column(String(32))
    timings: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    closed_on: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    expected_service_time: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", PortableJSON, default=dict)
    parkings: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    checkins: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    visit_detection_config: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    created_by: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    updated_by: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlaceHistory(AccountOwned, Base):
    """One audited change of a place (kept after the place is deleted)."""

    __tablename__ = "place_history"
    __table_args__ = (
        Index("ix_place_history_handle", "account_id", "place_handle", "changed_at", "audit_id"),
    )

    audit_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    place_id: Mapped[str] = mapped_column(String(36))
    place_handle: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(8))
    changes: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    changed_by: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
