"""What the ops embed of one order shows (``/embed/orders/<handle>?fulfillment-attempt=N``).

Unlike the customer's share page (``views.service.share_view``), this view is for the
account's own people: the order with its handles, window, route and worker, its timeline,
and the worker's live position and trail while they are on the way to (or on site at) this
order, by the same rule as the share page (``views.service.position_since``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.views import repository
from routekeeper.views.display import (
    STATUS_LABELS,
    clock_text,
    iso,
    stop_status,
    worst_risk,
    zone,
)
from routekeeper.views.service import TRAIL_LIMIT, position_since

TIMELINE_LIMIT = 100


def _event_label(event_type: str) -> str:
    """``order_geofence_entered`` -> ``Geofence entered``."""
    words = event_type.removeprefix("order_").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else event_type


def order_embed_view(
    session: Session, account_id: str, order_handle: str, fulfillment_attempt: int | None,
    *, now: datetime,
) -> dict[str, Any] | None:
    """The ops view of one order attempt (the latest when None); None when there is none."""
    order = repository.order_attempt(session, account_id, order_handle, fulfillment_attempt)
    if order is None:
        return None
    group = repository.ops_group(session, account_id, order.ops_group_handle)
    tz = zone(order.timezone or (group.timezone if group is not None else None))
    worker = repository.worker(session, account_id, order.worker_handle)
    since = position_since(order, repository.earlier_stops(session, order))
    position: dict[str, Any] | None = None
    trail: list[tuple[float, float]] = []
    if since is not None and order.worker_handle:
        device = repository.newest_device(
            session, account_id, device_ids=[order.device_id] if order.device_id else [],
            worker_handle=order.worker_handle)
        seen = device.last_recorded_at if device is not None else None
        if device is not None and seen is not None and seen >= since \
                and device.last_lat is not None and device.last_lon is not None:
            position = {"lat": device.last_lat, "lon": device.last_lon, "recorded_at": iso(seen),
                        "device_id": device.device_id}
            trail = repository.trail(session, account_id, device.device_id, since=since,
                                     until=None, limit=TRAIL_LIMIT)
    status = stop_status(order.status, order.arrived_at is not None and order.exited_at is None)
    risk, risk_names = worst_risk(order.risks)
    estimate = order.estimate or {}
    arrive_at = estimate.get("arrive_at") if order.arrived_at is None else None
    destination = (None if order.destination_lat is None or order.destination_lon is None
                   else [order.destination_lat, order.destination_lon])
    events = repository.order_events(session, order, limit=TIMELINE_LIMIT)
    return {
        "panel": {
            "order_handle": order.order_handle,
            "fulfillment_attempt": order.fulfillment_attempt,
            "status": status, "status_label": STATUS_LABELS.get(status, status),
            "address": (order.destination or {}).get("address"),
            "route_handle": order.route_handle, "worker_handle": order.worker_handle,
            "worker": (worker.name if worker is not None else None) or order.worker_handle,
            "window_from": clock_text(order.scheduled_after, tz, now),
            "window_to": clock_text(order.scheduled_at, tz, now),
            "eta_text": clock_text(arrive_at, tz, now), "eta": iso(arrive_at),
            "arrived": clock_text(order.arrived_at, tz, now),
            "left": clock_text(order.exited_at, tz, now),
            "completed": clock_text(order.completed_at, tz, now),
            "cancelled": clock_text(order.cancelled_at, tz, now),
            "risk": risk if risk in ("yellow", "red") else None, "risk_names": risk_names,
            "on_the_way": since is not None,
            "seen": clock_text(position["recorded_at"], tz, now) if position else None,
            "timezone": str(tz),
            "timeline": [{"type": e.type, "label": _event_label(e.type),
                          "time": clock_text(e.recorded_at, tz, now),
                          "recorded_at": iso(e.recorded_at)} for e in events],
        },
        "map": {
            "destination": destination,
            "worker": [position["lat"], position["lon"]] if position else None,
            "trail": [list(p) for p in trail],
        },
    }
