"""Routes: a worker's ordered sequence of orders, planned or live."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import PortableJSON, UTCDateTime
from routekeeper.models.mixins import AccountOwned, Lifecycle


def new_orders_tag() -> int:
    """A fresh ``Route.orders_tag``: random, so two writers never need to agree on the next
    one (the module's generator is re-seeded in a forked child)."""
    return random.getrandbits(63)


class Route(AccountOwned, Lifecycle, Base):
    """A route; the orders on it point at it (``order.route_handle``) with their sequence."""

    __tablename__ = "route"
    __table_args__ = (
        Index("ix_route_account_created", "account_id", "created_at", "route_handle"),
        Index("ix_route_account_worker", "account_id", "worker_handle", "status"),
        Index("ix_route_account_plan", "account_id", "plan_id"),
        Index("ix_route_account_device", "account_id", "device_id", "status"),
    )

    route_handle: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    ops_group_handle: Mapped[str] = mapped_column(String(200), default="default")
    track_mode: Mapped[str | None] = mapped_column(String(16))
    plan_mode: Mapped[str] = mapped_column(String(16), default="manual")
    plan_id: Mapped[str | None] = mapped_column(String(36))
    worker_handle: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", PortableJSON, default=dict)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    start_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completion_type: Mapped[str | None] = mapped_column(String(32))
    completion_source: Mapped[str | None] = mapped_column(String(32))
    distance: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[int | None] = mapped_column(Integer)
    polyline: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    start_location: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    end_location: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    tracking_rate: Mapped[float | None] = mapped_column(Float)
    # The live-tracking pipeline's state for this route (JSON, owned by tracking).
    track_state: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    # A random tag written with every track_state: a processor's decoded copy of the state is
    # good while the row still carries the tag it was stored with (tracking/routestate.py).
    track_state_tag: Mapped[int | None] = mapped_column(BigInteger)
    # The batches the processor ran since track_state was written (a list, oldest first):
    # the route's state is track_state with these replayed (tracking/routestate.py).
    track_tail: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON)
    # A random tag that changes whenever any of the route's orders is written
    # (models/orders_tag.py): the tracking processor's copy of the order rows is good while
    # the row still carries the tag it was read or written with. None: unknown (read them).
    orders_tag: Mapped[int | None] = mapped_column(BigInteger, default=new_orders_tag)
    created_by: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    scheduled_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Breaks and reloads the plan put between the route's orders (planning/daystops.py).
    day_stops: Mapped[list[dict[str, Any]] | None] = mapped_column(PortableJSON)
    # What bound the route when it was last planned (planning/binding.py), shown on request.
    bound_by: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
