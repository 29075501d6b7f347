"""Build the wire shapes of orders from rows."""

from __future__ import annotations

from typing import Any

from routekeeper.core.links import Links
from routekeeper.core.timefmt import format_ts
from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.orders.attachments import image_urls

_STAMPS = (
    "created_at", "planned_at", "assigned_at", "started_at", "arrived_at", "exited_at",
    "completed_at", "cancelled_at", "disabled_at", "enabled_at", "rescheduled_marked_at",
    "scheduled_after", "scheduled_at",
)
# The actuals the detail shape adds, served as stored.
_ACTUALS = (
    "polyline", "start_location", "end_location", "visited_destination",
    "completed_at_destination", "cancelled_at_destination", "deviation_from_destination",
)


def share_url(order: Order, public_url: str) -> str | None:
    """The customer tracking link, handed out once the order is tracked."""
    if order.started_at is None:
        return None
    return f"{public_url.rstrip('/')}/t/{order.tracking_id}"


def order_wire(order: Order, links: Links, *, embed_url: str | None = None,
               tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``Order`` shape (lists, routes, track); ``embed_url`` is its route's, when the
    caller has it signed already (every order of a route shares it); ``tasks`` are the
    order's tasks when the caller read them (``null`` otherwise)."""
    data: dict[str, Any] = {
        "order_handle": order.order_handle,
        "fulfillment_attempt": order.fulfillment_attempt,
        "status": order.status,
        "type": order.type,
        "type_index": order.type_index,
        "destination": order.destination,
        "place_handle": (order.destination or {}).get("place_handle"),
        "region": order.region,
        "ops_group_handle": order.ops_group_handle,
        "plan_mode": order.plan_mode,
        "plan_id": order.plan_id,
        "route_handle": order.route_handle,
        "planning_failure_reason": order.planning_failure_reason,
        "track_mode": order.track_mode,
        "device_switch_mode": order.device_switch_mode,
        "worker_handle": order.worker_handle,
        "driver_handle": order.worker_handle,
        "device_id": order.device_id,
        "expected_service_time": order.expected_service_time,
        "actual_service_time": order.actual_service_time,
        "capacity_used": order.capacity_used,
        "product_type": order.product_type or [],
        "priority": order.priority,
        "metadata": order.metadata_ or {},
        "risk_status": bool(order.risk_status),
        "risks": order.risks,
        "estimate": order.estimate,
        "distance": order.distance,
        "duration": order.duration,
        "tracking_rate": order.tracking_rate,
        "outage_summary": order.outage_summary,
        # Keys of the contract's Order Routekeeper has no value for; present (null) so every
        # answer carries the same keys, also those rendered without a response model.
        "driver_name": None, "worker_profile": None, "tracked_service_time": None,
        "time_to_first_event": None, "time_to_first_location": None, "tasks": tasks,
        "share_url": share_url(order, links.public_url),
        "embed_url": embed_url or (
            links.route_embed(order.route_handle) if order.route_handle else None),
        "timezone": order.timezone,
        "cancellation_source": order.cancellation_source,
        "created_by": order.created_by,
        # Extension fields (docs/compatibility.md): several windows, a soft window's cost.
        "time_windows": order.time_windows,
        "lateness_cost_per_minute": order.lateness_cost_per_minute,
    }
    for stamp in _STAMPS:
        data[stamp] = getattr(order, stamp)
    return data


def timeline_wire(event: OrderEvent) -> dict[str, Any]:
    """One timeline entry: its data plus ``type`` and ``recorded_at``."""
    return {**event.data, "type": event.type, "recorded_at": event.recorded_at}


def order_detail_wire(
    order: Order, links: Links, events: list[OrderEvent], *,
    tasks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The detail shape with the timeline (``GetOrderTimelineResponse``)."""
    data = order_wire(order, links, tasks=tasks)
    for actual in _ACTUALS:
        data[actual] = getattr(order, actual)
    data.update(
        previous_fulfillments=order.previous_fulfillments or [],
        attachments=order.attachments or [],
        images=image_urls(order.attachments),
        timeline=[timeline_wire(e) for e in events],
    )
    return data


def iso(value: Any) -> Any:
    """ISO-8601 text for datetimes inside JSON columns."""
    return format_ts(value) if value is not None and hasattr(value, "astimezone") else value
