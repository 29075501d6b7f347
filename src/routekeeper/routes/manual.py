"""``POST /orders/`` in manual mode with a worker: a route in the posted sequence."""

from __future__ import annotations

from typing import Any

from routekeeper.models.order import Order
from routekeeper.routes.context import RouteContext, find_group, find_worker
from routekeeper.routes.repository import route_orders
from routekeeper.routes.service import create_route
from routekeeper.routes.wire import route_wire


def route_for_new_orders(ctx: RouteContext, worker_handle: str,
                         orders: list[Order]) -> dict[str, Any]:
    """Create a route for ``worker_handle`` with the just-created orders; the RouteDetail."""
    worker = find_worker(ctx, worker_handle)
    group = find_group(ctx, orders[0].ops_group_handle)
    route = create_route(ctx, orders, group=group, worker=worker)
    ctx.session.flush()
    return route_wire(route, route_orders(ctx.session, route), ctx.links)
