"""Build the wire shapes of routes (``RouteDetail``, ``RouteList``) from rows."""

from __future__ import annotations

from typing import Any

from routekeeper.core.links import Links
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders.wire import order_wire
from routekeeper.routes.daystops import day_stops_wire

_STAMPS = ("created_at", "planned_at", "assigned_at", "started_at", "completed_at",
           "scheduled_start_at")


def _list_order(order: Order) -> dict[str, Any]:
    estimate = order.estimate or {}
    return {
        "order_handle": order.order_handle, "status": order.status,
        "planning_failure_reason": order.planning_failure_reason, "type": order.type,
        "type_index": order.type_index, "fulfillment_attempt": order.fulfillment_attempt,
        "started_at": order.started_at, "completed_at": order.completed_at,
        "cancelled_at": order.cancelled_at,
        "expected_service_time": order.expected_service_time,
        "estimate": {k: estimate.get(k) for k in ("start_by", "arrive_at", "distance", "duration")}
        if estimate else None,
        "actual_service_time": order.actual_service_time,
        "distance": order.distance, "duration": order.duration,
    }


def bound_by_wire(route: Route, orders: list[Order]) -> dict[str, Any] | None:
    """What bound the route when it was last planned, with order handles (None: not planned
    by a planning run)."""
    if route.bound_by is None:
        return None
    handles = {order.id: order.order_handle for order in orders}
    start = dict(route.bound_by["start"])
    start["order_handle"] = handles.get(start.pop("order_id", None) or "")
    return {"start": start, "end": route.bound_by["end"]}


def route_wire(
    route: Route, orders: list[Order], links: Links, *, full: bool = True,
    include_summary: bool = True, planned: bool = False,
    order_items: list[Any] | None = None,
) -> dict[str, Any]:
    """A route in the detail shape (``full``), the list shape, or as plans show it
    (``planned``: the list shape with the whole planned estimate and full orders).
    ``order_items``: the wire items of ``orders``, when the caller has them rendered already
    (plans on PostgreSQL)."""
    estimate = route.estimate
    if estimate is not None and not full and not planned:
        estimate = {k: estimate.get(k) for k in ("start_by", "distance", "duration")}
    signed = links.route_embed(route.route_handle)
    data: dict[str, Any] = {
        "route_handle": route.route_handle,
        "status": route.status,
        "version": route.version,
        "orders": order_items if order_items is not None else [
            order_wire(o, links, embed_url=signed) if full or planned else _list_order(o)
            for o in orders],
        "ops_group_handle": route.ops_group_handle,
        "track_mode": route.track_mode,
        "plan_mode": route.plan_mode,
        "plan_id": route.plan_id,
        "worker_handle": route.worker_handle,
        "driver_handle": route.worker_handle,
        "device_id": route.device_id,
        # Kept on the orders the route tracks (routes have no column of their own for it).
        "device_switch_mode": next(
            (o.device_switch_mode for o in orders if o.device_switch_mode), None),
        "metadata": route.metadata_ or {},
        "estimate": estimate,
        "distance": route.distance,
        "duration": route.duration,
        "embed_url": signed,
        "completion_source": route.completion_source,
        "created_by": route.created_by,
    }
    for stamp in _STAMPS:
        data[stamp] = getattr(route, stamp)
    # Extension (docs/compatibility.md): the breaks and reloads planned between the orders.
    data.update(day_stops_wire(route, orders))
    if full:
        data["completion_type"] = route.completion_type
        if include_summary:
            data.update(
                polyline=route.polyline, start_location=route.start_location,
                end_location=route.end_location, tracking_rate=route.tracking_rate,
            )
    return data
