"""What the route embed and the customer's share page show, built from rows.

Each view is a plain dict: ``panel`` fields for the server-rendered side panel and ``map``
data for the script (points as ``[lat, lon]``, the order Leaflet takes). The live streams send
the same dicts again whenever they change.

The share page is public, so its view is built from the one order its tracking id names and
says nothing of the account, the route, or any other order: not their handles, not where they
are, and not where the worker is while serving them. The worker's position is shown only
while they are on the way to (or on site at) this order: from the moment every earlier stop
of the route is left or finished, until this order is left, completed or cancelled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from routekeeper.models.device import Device
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.routes import repository as routes_repository
from routekeeper.views import repository
from routekeeper.views.display import (
    STATUS_LABELS,
    clock_text,
    distance_text,
    duration_text,
    first_name,
    instant,
    iso,
    stop_status,
    worst_risk,
    zone,
)

TRAIL_LIMIT = 500
_FINISHED = ("completed", "cancelled")


def line_points(geometry: dict[str, Any] | None) -> list[list[float]]:
    """A GeoJSON LineString's points as ``[lat, lon]``."""
    coordinates = (geometry or {}).get("coordinates") or []
    return [[float(c[1]), float(c[0])] for c in coordinates if len(c) >= 2]


def _point(order: Order) -> list[float] | None:
    if order.destination_lat is None or order.destination_lon is None:
        return None
    return [order.destination_lat, order.destination_lon]


def _address(order: Order) -> str | None:
    address = (order.destination or {}).get("address")
    return str(address) if address else None


def _stop_time(order: Order, tz: ZoneInfo, now: datetime) -> tuple[str, str | None]:
    """What a stop's time column says: done, on site, expected, or due."""
    if order.status == "completed":
        return "Done", clock_text(order.completed_at, tz, now)
    if order.status == "cancelled":
        return "Cancelled", clock_text(order.cancelled_at, tz, now)
    if order.arrived_at is not None and order.exited_at is None:
        return "Arrived", clock_text(order.arrived_at, tz, now)
    if order.exited_at is not None:
        return "Left", clock_text(order.exited_at, tz, now)
    arrive_at = (order.estimate or {}).get("arrive_at")
    if arrive_at:
        return "ETA", clock_text(arrive_at, tz, now)
    if order.scheduled_at is not None:
        return "Due", clock_text(order.scheduled_at, tz, now)
    return "", None


def _stop(order: Order, number: int, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    status = stop_status(order.status, order.arrived_at is not None
                         and order.exited_at is None)
    risk, risk_names = worst_risk(order.risks)
    time_label, time_text = _stop_time(order, tz, now)
    return {
        "n": number, "order_handle": order.order_handle, "status": status,
        "status_label": STATUS_LABELS.get(status, status), "address": _address(order),
        "time_label": time_label, "time_text": time_text,
        "eta": iso((order.estimate or {}).get("arrive_at")),
        "risk": risk if risk in ("yellow", "red") else None, "risk_names": risk_names,
        "point": _point(order),
    }


def _position(device: Device | None) -> dict[str, Any] | None:
    if device is None or device.last_lat is None or device.last_lon is None \
            or device.last_recorded_at is None:
        return None
    return {"lat": device.last_lat, "lon": device.last_lon,
            "recorded_at": iso(device.last_recorded_at)}


def _route_summary(route: Route, orders: list[Order], stops: list[dict[str, Any]],
                   device: Device | None, tz: ZoneInfo, now: datetime,
                   worker_name: str | None) -> dict[str, Any]:
    estimate = route.estimate or {}
    open_etas = [s["time_text"] for s in stops
                 if s["time_label"] == "ETA" and s["time_text"]]
    seen = device.last_recorded_at if device is not None else None
    return {
        "route_handle": route.route_handle, "status": route.status,
        "status_label": STATUS_LABELS.get(route.status, route.status),
        "worker": worker_name or route.worker_handle, "worker_handle": route.worker_handle,
        "ops_group": route.ops_group_handle, "timezone": str(tz),
        "stops_total": len(orders),
        "stops_done": sum(1 for o in orders if o.status in _FINISHED),
        "at_risk": sum(1 for s in stops if s["risk"]),
        "planned_distance": distance_text(estimate.get("distance")),
        "planned_duration": duration_text(estimate.get("duration")),
        "actual_distance": distance_text(route.distance) if route.distance else None,
        "start_by": clock_text(estimate.get("start_by") or route.start_by, tz, now),
        "started": clock_text(route.started_at, tz, now),
        "completed": clock_text(route.completed_at, tz, now),
        "next_eta": open_etas[0] if open_etas else None,
        "last_eta": open_etas[-1] if open_etas else None,
        "seen": seen.astimezone(tz).strftime("%H:%M:%S") if seen is not None else None,
        "device_id": device.device_id if device is not None else None,
    }


def embed_view(session: Session, account_id: str, route_handle: str, *, now: datetime
               ) -> dict[str, Any] | None:
    """The ops view of one route; None when the account has no such route."""
    route = routes_repository.get_route(session, account_id, route_handle, lock=False)
    if route is None:
        return None
    orders = routes_repository.route_orders(session, route)
    group = repository.ops_group(session, account_id, route.ops_group_handle)
    tz = zone(group.timezone if group is not None else None)
    worker = repository.worker(session, account_id, route.worker_handle)
    device = repository.newest_device(
        session, account_id, device_ids=[route.device_id] if route.device_id else [],
        worker_handle=route.worker_handle)
    stops = [_stop(o, i + 1, tz, now) for i, o in enumerate(orders)]
    finished = route.status == "completed"
    trail: list[tuple[float, float]] = []
    if device is not None and route.started_at is not None:
        trail = repository.trail(session, account_id, device.device_id, since=route.started_at,
                                 until=route.completed_at, limit=TRAIL_LIMIT)
    line = line_points((route.estimate or {}).get("polyline"))
    if not line:
        line = [s["point"] for s in stops if s["point"] and s["status"] not in _FINISHED]
    worker_name = worker.name if worker is not None else None
    return {
        "panel": {
            "route": _route_summary(route, orders, stops, None if finished else device, tz,
                                    now, worker_name),
            "stops": stops,
        },
        "map": {
            "line": line,
            "stops": [_map_stop(s) for s in stops if s["point"]],
            "worker": None if finished else _position(device),
            "trail": [list(p) for p in trail],
        },
    }


def _map_stop(stop: dict[str, Any]) -> dict[str, Any]:
    """A stop's marker on the ops map, titled by number, order, status and time."""
    time_text = f"{stop['time_label']} {stop['time_text']}" if stop["time_text"] else None
    parts = (stop["n"], stop["order_handle"], stop["status_label"], time_text)
    return {"n": stop["n"], "point": stop["point"], "status": stop["status"],
            "risk": stop["risk"], "title": " · ".join(str(p) for p in parts if p)}


def position_since(order: Order, earlier: list[Order]) -> datetime | None:
    """Since when the worker's position is this order's to show, or None while it is not:
    the order is under way, not left, and every earlier stop is left or finished."""
    if order.status != "ongoing" or order.exited_at is not None \
            or order.completed_at is not None or order.cancelled_at is not None:
        return None
    since = order.started_at or order.assigned_at or order.created_at
    for stop in earlier:
        if stop.status in (*_FINISHED, "disabled"):
            ended = (stop.exited_at or stop.completed_at or stop.cancelled_at
                     or stop.disabled_at)
        elif stop.exited_at is not None:
            ended = stop.exited_at
        else:
            return None
        if ended is not None and ended > since:
            since = ended
    return since


def _share_headline(order: Order, name: str, turn: bool, tz: ZoneInfo, now: datetime
                    ) -> tuple[str, str]:
    """The headline and sentence of the share page; ``turn`` says this order is the
    worker's current stop."""
    if order.status == "completed":
        return "Completed", f"Completed at {clock_text(order.completed_at, tz, now)}."
    if order.status == "cancelled":
        return "Cancelled", "This visit was cancelled."
    if order.status == "disabled":
        return "Paused", "This visit is paused for now."
    if order.status == "ongoing":
        if order.exited_at is not None:
            return "Visit finished", f"{name} left at {clock_text(order.exited_at, tz, now)}."
        if order.arrived_at is not None:
            return "Arrived", f"{name} arrived at {clock_text(order.arrived_at, tz, now)}."
        if turn:
            return "On the way", f"{name} is on the way to you."
        return "Coming up", f"{name} has other stops before yours."
    due = clock_text(order.scheduled_at, tz, now)
    return "Scheduled", f"Expected by {due}." if due else "Your visit is scheduled."


def _share_position(session: Session, order: Order,
                    since: datetime | None) -> dict[str, Any] | None:
    """The worker's position to show on the share page: only one reported since ``since``
    (None: the order is not the worker's current stop)."""
    if since is None or not order.worker_handle:
        return None
    device = repository.newest_device(
        session, order.account_id, device_ids=[order.device_id] if order.device_id else [],
        worker_handle=order.worker_handle)
    seen = device.last_recorded_at if device is not None else None
    if seen is not None and seen >= since:
        return _position(device)
    return None


def _shows_eta(order: Order, arrive_at: Any) -> bool:
    """Whether the share page shows an ETA: an open order not yet reached, with one."""
    return bool(order.status in ("ongoing", "assigned", "planned", "dispatched")
                and order.arrived_at is None and order.exited_at is None
                and instant(arrive_at))


def share_view(session: Session, tracking_id: str, *, now: datetime) -> dict[str, Any] | None:
    """The customer's view of the one order behind a share link; None when there is none."""
    order = repository.order_by_tracking_id(session, tracking_id)
    if order is None:
        return None
    group = repository.ops_group(session, order.account_id, order.ops_group_handle)
    tz = zone(order.timezone or (group.timezone if group is not None else None))
    worker = repository.worker(session, order.account_id, order.worker_handle)
    name = first_name(worker.name if worker is not None else None)
    since = position_since(order, repository.earlier_stops(session, order))
    position = _share_position(session, order, since)
    headline, detail = _share_headline(order, name or "Your driver", since is not None,
                                       tz, now)
    arrive_at = (order.estimate or {}).get("arrive_at")
    show_eta = _shows_eta(order, arrive_at)
    status = stop_status(order.status, order.arrived_at is not None and order.exited_at is None)
    return {
        "panel": {
            "status": status, "headline": headline, "detail": detail,
            "worker_name": name,
            "eta_text": clock_text(arrive_at, tz, now) if show_eta else None,
            "eta": iso(arrive_at) if show_eta else None,
            "arrived_at": iso(order.arrived_at), "completed_at": iso(order.completed_at),
            "address": _address(order), "timezone": str(tz),
            "seen": clock_text(position["recorded_at"], tz, now) if position else None,
        },
        "map": {"destination": _point(order),
                "worker": [position["lat"], position["lon"]] if position else None},
    }
