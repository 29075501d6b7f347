"""What the ops embed of one order shows (``/embed/orders/<handle>?fulfillment-attempt=N``).

Unlike the customer's share page (``views.service.share_view``), this view is for the
account's own people: the order with its handles, window, route and worker, its timeline,
and the worker's live position and trail while they are on the way to (or on site at) this
order, by the same rule as the share page (``views.service.position_since``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.models.worker import Worker
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


def _worker_position(session: Session, account_id: str, order: Order, since: datetime | None,
                     ) -> tuple[dict[str, Any] | None, list[tuple[float, float]]]:
    """The worker's position and trail since ``since`` (when the order is their current
    stop and their device reported since then), else nothing."""
    if since is None or not order.worker_handle:
        return None, []
    device = repository.newest_device(
        session, account_id, device_ids=[order.device_id] if order.device_id else [],
        worker_handle=order.worker_handle)
    seen = device.last_recorded_at if device is not None else None
    if device is None or seen is None or seen < since \
            or device.last_lat is None or device.last_lon is None:
        return None, []
    position = {"lat": device.last_lat, "lon": device.last_lon, "recorded_at": iso(seen),
                "device_id": device.device_id}
    trail = repository.trail(session, account_id, device.device_id, since=since,
                             until=None, limit=TRAIL_LIMIT)
    return position, trail


def _worker_name(worker: Worker | None) -> str | None:
    return worker.name if worker is not None else None


def _timeline_entry(event_type: str, recorded_at: datetime, tz: ZoneInfo,
                    now: datetime) -> dict[str, Any]:
    """One line of the order's timeline on the embed page."""
    return {"type": event_type, "label": _event_label(event_type),
            "time": clock_text(recorded_at, tz, now), "recorded_at": iso(recorded_at)}


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
    position, trail = _worker_position(session, account_id, order, since)
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
            "worker": _worker_name(worker) or order.worker_handle,
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
            "timeline": [_timeline_entry(e.type, e.recorded_at, tz, now) for e in events],
        },
        "map": {
            "destination": destination,
            "worker": [position["lat"], position["lon"]] if position else None,
            "trail": [list(p) for p in trail],
        },
    }
