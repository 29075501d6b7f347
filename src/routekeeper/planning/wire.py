"""Wire shapes of plans (contract sections 3.4 and 3.6)."""

from __future__ import annotations

from typing import Any

import orjson

from routekeeper.core.links import Links
from routekeeper.models.order import Order
from routekeeper.models.plan import Plan
from routekeeper.models.route import Route
from routekeeper.routes.wire import route_wire


def mini_order(order: Order) -> dict[str, Any]:
    """``OrderObjectMini`` of an unplanned order."""
    return {"order_handle": order.order_handle, "status": order.status, "type": order.type,
            "type_index": order.type_index, "fulfillment_attempt": order.fulfillment_attempt,
            "plan_mode": order.plan_mode,
            "planning_failure_reason": order.planning_failure_reason}


def rendered_order(row: Any) -> orjson.Fragment:
    """An order rendered by ``planning.repository.route_orders_rendered``, as a piece of JSON
    for ``core.wirejson``."""
    return orjson.Fragment(row.wire)


def plan_wire(
    plan: Plan,
    routes: list[Route],
    unplanned: list[Order],
    *,
    summary: dict[str, Any] | None,
    route_orders: dict[str, list[Any]] | None = None,
    rendered: bool = False,
    links: Links | None = None,
) -> dict[str, Any]:
    """A plan. With ``route_orders`` its routes are full route objects as the contract's
    plan examples show them (estimate with polyline, orders with destination and window),
    a superset of the schema's ``PlanListRoute``/``PlanRoute`` (docs/compatibility.md);
    without, ``{route_handle, status}`` only. ``rendered``: the orders are the rows of
    ``planning.repository.route_orders_rendered``, and the answer goes to
    ``core.wirejson`` (it holds JSON fragments). ``links``: those of the full routes."""
    if route_orders is None:
        route_items: list[dict[str, Any]] = [
            {"route_handle": r.route_handle, "status": r.status} for r in routes
        ]
    else:
        assert links is not None, "full routes carry links"
        route_items = []
        for r in routes:
            rows = route_orders.get(r.route_handle, [])
            items = [rendered_order(row) for row in rows] if rendered else None
            route_items.append(route_wire(r, rows, links, full=False, planned=True,
                                          order_items=items))
    data: dict[str, Any] = {
        "plan_id": plan.plan_id,
        "status": plan.status,
        "sequence_number": plan.sequence_number,
        "fulfillment_date": plan.fulfillment_date,
        "ops_group_handle": plan.ops_group_handle,
        "plan_mode": plan.plan_mode,
        "created_at": plan.created_at,
        "started_at": plan.started_at or plan.created_at,
        "completed_at": plan.completed_at,
        "failure_reason": plan.failure_reason,
        "routes": route_items,
        "unplanned_orders": [mini_order(o) for o in unplanned],
    }
    if summary is not None:
        data["summary"] = summary
    return data
