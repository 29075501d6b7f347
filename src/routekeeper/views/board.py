"""The plans board: one ops group's plans of one day, their routes and unplanned orders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.planning import repository as planning_repository
from routekeeper.routes import repository as routes_repository
from routekeeper.views import repository
from routekeeper.views.display import (
    ROUTE_COLOURS,
    STATUS_LABELS,
    clock_text,
    distance_text,
    duration_text,
    zone,
)
from routekeeper.views.service import line_points

MAX_PLANS = 20


def parse_day(text: str | None) -> date | None:
    """A ``YYYY-MM-DD`` query value as a date; None when absent or malformed."""
    if not text or len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _route_item(route: Route, orders: list[Order], colour: str, link: str,
                worker_names: dict[str, str | None]) -> dict[str, Any]:
    estimate = route.estimate or {}
    stops: list[dict[str, Any]] = []
    points: list[list[float]] = []
    for i, order in enumerate(orders):
        if order.destination_lat is None or order.destination_lon is None:
            continue
        point = [order.destination_lat, order.destination_lon]
        points.append(point)
        stops.append({"n": i + 1, "point": point, "status": order.status,
                      "title": f"{i + 1} · {order.order_handle}"})
    line = line_points(estimate.get("polyline")) or points
    worker = route.worker_handle
    return {
        "route_handle": route.route_handle, "colour": colour, "status": route.status,
        "status_label": STATUS_LABELS.get(route.status, route.status),
        "worker": (worker_names.get(worker) or worker) if worker else None,
        "stops": len(orders), "done": sum(1 for o in orders
                                          if o.status in ("completed", "cancelled")),
        "distance": distance_text(estimate.get("distance")),
        "duration": duration_text(estimate.get("duration")),
        "link": link, "line": line, "points": stops,
    }


def _unplanned_item(order: Order, tz_name: str, now: datetime) -> dict[str, Any]:
    tz = zone(tz_name)
    point = ([order.destination_lat, order.destination_lon]
             if order.destination_lat is not None and order.destination_lon is not None
             else None)
    return {"order_handle": order.order_handle,
            "address": (order.destination or {}).get("address"),
            "due": clock_text(order.scheduled_at, tz, now),
            "reason": order.planning_failure_reason or "Not planned yet.", "point": point}


def board_view(
    session: Session, account_id: str, *, day: date | None, group_handle: str | None,
    now: datetime, embed_link: Callable[[str], str],
) -> dict[str, Any]:
    """Every plan of the chosen ops group on the chosen day (its local today by default),
    with summaries, routes in distinct colours and the unplanned orders with their reasons."""
    groups = repository.ops_groups(session, account_id)
    handles = [g.ops_group_handle for g in groups]
    if group_handle not in handles:
        group_handle = "default" if "default" in handles or not handles else handles[0]
    group = next((g for g in groups if g.ops_group_handle == group_handle), None)
    tz_name = group.timezone if group is not None else "UTC"
    day = day or now.astimezone(zone(tz_name)).date()
    plans = planning_repository.list_plans(
        session, account_id, fulfillment_date=day.isoformat(), ops_group_handle=group_handle,
        status=None, descending=True, after=None, limit=MAX_PLANS)
    ids = [p.plan_id for p in plans]
    summaries = planning_repository.summaries(session, account_id, ids)
    plan_routes = planning_repository.plan_route_rows(session, account_id, ids)
    unplanned = planning_repository.unplanned_rows(session, account_id, ids)
    all_routes = [r for pid in ids for r in plan_routes[pid]]
    orders = routes_repository.routes_orders(session, all_routes)
    worker_names = {}
    for route in all_routes:
        if route.worker_handle and route.worker_handle not in worker_names:
            worker = repository.worker(session, account_id, route.worker_handle)
            worker_names[route.worker_handle] = worker.name if worker is not None else None
    items = []
    colour_index = 0
    for plan in plans:
        routes = []
        for route in plan_routes[plan.plan_id]:
            colour = ROUTE_COLOURS[colour_index % len(ROUTE_COLOURS)]
            colour_index += 1
            routes.append(_route_item(route, orders[route.route_handle], colour,
                                      embed_link(route.route_handle), worker_names))
        summary = summaries[plan.plan_id]
        items.append({
            "plan_id": plan.plan_id, "status": plan.status,
            "sequence_number": plan.sequence_number, "failure_reason": plan.failure_reason,
            "planned": clock_text(plan.completed_at or plan.updated_at, zone(tz_name), now),
            "orders": summary["orders"], "routes_count": summary["routes"],
            "drivers": summary["drivers"],
            "distance": distance_text(summary["estimate"]["distance"]),
            "duration": duration_text(summary["estimate"]["duration"]),
            "routes": routes,
            "unplanned": [_unplanned_item(o, tz_name, now) for o in unplanned[plan.plan_id]],
        })
    return {"day": day.isoformat(), "group": group_handle, "groups": handles,
            "timezone": tz_name, "plans": items}
