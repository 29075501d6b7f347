"""Orders: one row per fulfilment attempt of a pick or drop at a destination."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned, Lifecycle

_ACTIVE = "status NOT IN ('completed', 'cancelled')"


class Order(AccountOwned, Lifecycle, Base):
    """An order attempt; the handle is unique among an account's non-terminal orders."""

    __tablename__ = "order"
    __table_args__ = (
        # Enforced by the database so concurrent creates cannot both win.
        Index(
            "uq_order_active_handle",
            "account_id",
            "order_handle",
            "type",
            "type_index",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_order_account_created", "account_id", "created_at", "id"),
        Index("ix_order_account_handle", "account_id", "order_handle", "fulfillment_attempt"),
        Index("ix_order_account_route", "account_id", "route_handle"),
        Index("ix_order_account_plan", "account_id", "plan_id"),
        Index("ix_order_account_status", "account_id", "status"),
        Index("ix_order_tracking_id", "tracking_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_handle: Mapped[str] = mapped_column(String(200))
    fulfillment_attempt: Mapped[int] = mapped_column(Integer, default=0)
    type: Mapped[str] = mapped_column(String(8), default="drop")
    type_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    destination: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    # Representative point of the destination, for sorting, exports and geofences.
    destination_lon: Mapped[float | None] = mapped_column(Float)
    destination_lat: Mapped[float | None] = mapped_column(Float)
    region: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    ops_group_handle: Mapped[str] = mapped_column(String(200), default="default")
    plan_mode: Mapped[str | None] = mapped_column(String(16))
    plan_id: Mapped[str | None] = mapped_column(String(36))
    route_handle: Mapped[str | None] = mapped_column(String(200))
    route_sequence: Mapped[int | None] = mapped_column(Integer)
    planning_failure_reason: Mapped[str | None] = mapped_column(String(300))
    track_mode: Mapped[str | None] = mapped_column(String(16))
    device_switch_mode: Mapped[str | None] = mapped_column(String(32))
    worker_handle: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(200))
    scheduled_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Extension: alternative windows [{"after", "before"}] (ISO UTC) inside scheduled_after..
    # scheduled_at, and the cost of a minute late (a soft window) when set.
    time_windows: Mapped[list[dict[str, str]] | None] = mapped_column(PortableJSON)
    lateness_cost_per_minute: Mapped[int | None] = mapped_column(Integer)
    expected_service_time: Mapped[int | None] = mapped_column(Integer)
    actual_service_time: Mapped[int | None] = mapped_column(Integer)
    capacity_used: Mapped[int] = mapped_column(Integer, default=1)
    product_type: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    priority: Mapped[str | None] = mapped_column(String(8))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", PortableJSON, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    risk_status: Mapped[bool] = mapped_column(Boolean, default=False)
    risks: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    distance: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[int | None] = mapped_column(Integer)
    tracking_rate: Mapped[float | None] = mapped_column(Float)
    # OutageSummary items of the order's tracked leg, written when it finishes (issue 15).
    outage_summary: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON)
    polyline: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    start_location: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    end_location: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    visited_destination: Mapped[bool | None] = mapped_column(Boolean)
    completed_at_destination: Mapped[bool | None] = mapped_column(Boolean)
    cancelled_at_destination: Mapped[bool | None] = mapped_column(Boolean)
    deviation_from_destination: Mapped[int | None] = mapped_column(Integer)
    cancellation_source: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    created_by: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    previous_fulfillments: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    timezone: Mapped[str | None] = mapped_column(String(64))
    tracking_id: Mapped[str] = mapped_column(String(64))
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rescheduled_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
