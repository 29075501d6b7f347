"""Ops groups: a team's planning settings (home, time zone, route rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned


class OpsGroup(AccountOwned, Base):
    """One ops group of an account; ``default`` always exists."""

    __tablename__ = "ops_group"

    ops_group_handle: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    ops_group_home: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    route_start_location: Mapped[str] = mapped_column(String(32), default="live_location")
    route_completion_type: Mapped[str] = mapped_column(String(32), default="end_at_last_order")
    route_capacity: Mapped[int | None] = mapped_column(Integer)
    route_max_distance: Mapped[int | None] = mapped_column(Integer)
    objective_fn: Mapped[str] = mapped_column(String(32), default="minimise_time")
    default_shift_start_time: Mapped[str | None] = mapped_column(String(5))
    default_shift_end_time: Mapped[str | None] = mapped_column(String(5))
    # Extension: {"max_reloads": int | None, "service_time": s}: workers may go back to the
    # ops group home to reload; None when they may not.
    reloads: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    # Meters from ops_group_home; with enforce_operations_radius, orders farther away are
    # refused at creation and never planned.
    operations_radius: Mapped[int | None] = mapped_column(Integer)
    enforce_operations_radius: Mapped[bool] = mapped_column(Boolean, default=False,
                                                            server_default=false())
    # Shifts of workers who have no schedule of their own (ScheduleEntry shapes).
    schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON)
    order_tracking_automation: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    work_status_automation: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
