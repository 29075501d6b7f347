"""``POST /orders/`` in manual mode with a worker: a route in the posted sequence."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.routes.repository import route_orders
from routekeeper.routes.service import RouteContext, _group, create_route, find_worker
from routekeeper.routes.wire import route_wire


def route_for_new_orders(
    request: Request, session: Session, account_id: str, worker_handle: str,
    orders: list[Order],
) -> dict[str, Any]:
    """Create a route for ``worker_handle`` with the just-created orders; the RouteDetail."""
    ctx = RouteContext(session, account_id, request.app.state.settings, request.app.state.travel)
    worker = find_worker(ctx, worker_handle)
    group = _group(ctx, orders[0].ops_group_handle)
    route = create_route(ctx, orders, group=group, worker=worker)
    session.flush()
    return route_wire(route, route_orders(session, route), ctx.public_url)
