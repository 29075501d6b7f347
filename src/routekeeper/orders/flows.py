"""Order changes that reach beyond the order row: new orders planned or routed, and the
route an order is on kept in step with it.

New orders (:func:`create`) are stored by the service, then planned (``plan_mode``
scheduled or on_demand) or, in manual mode with a worker, put on a route for that worker.

Each flow applies one order service change inside the route aggregate's
``routes.service.order_change``: the order's route is locked first, and after the change
it is re-sequenced, bumped and re-estimated once (or completed when its last order
finished). Endpoints call these, never the service changes directly, so no endpoint has to
remember the route.
"""

from __future__ import annotations

from typing import Any

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.geocoding.service import Geocoder
from routekeeper.models.order import Order
from routekeeper.order_tasks.lists import tasks_by_order
from routekeeper.orders import service
from routekeeper.orders.schemas import OrdersCreate, OrderUpdate, Reschedule
from routekeeper.orders.wire import order_wire
from routekeeper.planning.requests import plan_new_orders
from routekeeper.routes.context import RouteContext
from routekeeper.routes.manual import route_for_new_orders
from routekeeper.routes.service import order_change


def create(ctx: RouteContext, body: OrdersCreate, *, geocoder: Geocoder | None, db: Database,
           runner: JobRunner | None) -> dict[str, Any]:
    """Create a batch of orders and plan or route them as ``plan_mode`` says; the answer of
    ``POST /orders/`` (orders, a route, or a plan)."""
    orders = service.create_orders(ctx.session, ctx.account_id, body, geocoder=geocoder)
    if body.plan_mode.value != "manual":
        return plan_new_orders(ctx.session, ctx.account_id, orders, mode=body.plan_mode.value,
                               sync=body.enable_sync_planning, settings=ctx.settings, db=db,
                               runner=runner, links=ctx.links, replan=body.replan,
                               max_moves_per_route=body.max_moves_per_route)
    if body.worker is not None:
        # Manual mode with a worker: a route for that worker, in the posted sequence.
        return route_for_new_orders(ctx, body.worker, orders)
    tasks = tasks_by_order(ctx.session, orders)
    return {"orders": [order_wire(o, ctx.links, tasks=tasks[o.id]) for o in orders]}


def complete(ctx: RouteContext, order: Order, *, metadata: dict[str, Any] | None) -> Order:
    """Complete an order; its route follows."""
    with order_change(ctx, order, closing=True):
        return service.complete_order(ctx.session, order, metadata=metadata,
                                      public_url=ctx.public_url,
                                      tracking=ctx.settings.tracking)


def cancel(ctx: RouteContext, order: Order, *, metadata: dict[str, Any] | None) -> Order:
    """Cancel an order; its route follows."""
    with order_change(ctx, order, closing=True):
        return service.cancel_order(ctx.session, order, metadata=metadata,
                                    public_url=ctx.public_url, tracking=ctx.settings.tracking)


def disable(ctx: RouteContext, order: Order, *, metadata: dict[str, Any] | None) -> Order:
    """Disable an order: it stays on its route, out of the route's ETAs."""
    with order_change(ctx, order, closing=True):
        return service.set_enabled(ctx.session, order, enabled=False, metadata=metadata,
                                   public_url=ctx.public_url)


def enable(ctx: RouteContext, order: Order, *, metadata: dict[str, Any] | None) -> Order:
    """Enable a disabled order again; its route's ETAs include it."""
    with order_change(ctx, order):
        return service.set_enabled(ctx.session, order, enabled=True, metadata=metadata,
                                   public_url=ctx.public_url)


def reschedule(ctx: RouteContext, order: Order, body: Reschedule) -> Order:
    """Move an order's window (off its route, or a new attempt); the order it leaves
    behind, or the new attempt."""
    with order_change(ctx, order, closing=True):
        return service.reschedule_order(ctx.session, order, body, public_url=ctx.public_url,
                                        tracking=ctx.settings.tracking)


def update(ctx: RouteContext, order: Order, body: OrderUpdate, *,
           geocoder: Geocoder | None) -> Order:
    """Apply a PATCH; the route's estimates follow a new destination or window."""
    with order_change(ctx, order):
        return service.update_order(ctx.session, ctx.account_id, order, body,
                                    public_url=ctx.public_url, geocoder=geocoder)
