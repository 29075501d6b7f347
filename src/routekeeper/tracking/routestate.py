"""The stored tracking state of a route (``route.track_state``) and its plan, kept in step with
the route's orders.

``route.track_state`` holds the pipeline's :class:`RouteTrackState` plus what only the
database-facing side needs: which devices fed the route (their positions make its polyline),
up to when and when its polyline was last extended, and whether its actuals are final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.fixes import Instant
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import (
    RouteTrackState,
    TrackedOrder,
    close_order,
    replace_orders,
)
from routekeeper.tracking.routeorders import OrderRow

# Orders the pipeline follows: those being served, and finished ones (closed, kept for their
# distance marks). Disabled orders leave the plan until they are enabled again.
_PLANNED_STATUSES = ("ongoing", "completed", "cancelled")
_FINISHED = ("completed", "cancelled")


@dataclass
class StoredState:
    """``route.track_state``: the pipeline state and the bookkeeping around it."""

    pipeline: RouteTrackState
    devices: list[str] = field(default_factory=list)
    # The stored route polyline covers positions up to this instant; refreshed at polyline_at.
    polyline_until: Instant | None = None
    polyline_at: Instant | None = None
    finalized: bool = False


# Plans are made of ORM orders (hooks) or plain order rows (uploads).
PlannedOrder = Order | OrderRow
OrderT = TypeVar("OrderT", Order, OrderRow)


def tracked_order(order: PlannedOrder) -> TrackedOrder:
    """What the pipeline needs of an order: its geofence, window and service time."""
    return TrackedOrder(
        order_key=order.id,
        geofence=Geofence.from_destination(order.destination),
        scheduled_after=order.scheduled_after,
        scheduled_at=order.scheduled_at,
        service_s=float(order.expected_service_time or 0),
    )


def finished_at(order: PlannedOrder) -> datetime | None:
    """When a finished order finished."""
    return order.completed_at if order.status == "completed" else order.cancelled_at


def load(route: Route, orders: Sequence[PlannedOrder], *, now: datetime) -> StoredState:
    """The route's stored state, started (from its open orders, in sequence) when missing."""
    if route.track_state:
        return codec.load(StoredState, route.track_state)
    started_at = route.started_at or now
    plan = [tracked_order(o) for o in orders if o.status == "ongoing"]
    return StoredState(pipeline=RouteTrackState.start(plan, started_at=started_at))


def sync_plan(stored: StoredState, orders: Sequence[OrderT]) -> list[OrderT]:
    """Bring the plan in line with the route's orders; returns the orders closed just now.

    Re-sequenced, added and edited orders keep their progress (by order id); orders that left
    the route or were disabled leave the plan; finished orders are closed at their finishing
    time, after which they receive no events.
    """
    state = stored.pipeline
    wanted = [o for o in orders if o.status in _PLANNED_STATUSES]
    known = {t.key for t in state.orders}
    # An order finished before the pipeline ever saw it has nothing to track.
    wanted = [o for o in wanted if o.status not in _FINISHED or o.id in known]
    plan = [tracked_order(o) for o in wanted]
    if [t.order for t in state.orders] != plan:
        state = replace_orders(state, plan)
    closed: list[OrderT] = []
    for order in wanted:
        at = finished_at(order)
        if order.status in _FINISHED and at is not None and state.order(order.id).closed_at is None:
            state = close_order(state, order.id, at=at)
            closed.append(order)
    stored.pipeline = state
    return closed


def store(route: Route, stored: StoredState) -> None:
    """Write the state back to the route row."""
    route.track_state = codec.dump(stored)
