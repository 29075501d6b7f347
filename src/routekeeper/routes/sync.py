"""Keeping a route in step when one of its orders changes outside the route operations.

The orders domain completes, cancels, disables, enables, reschedules and edits orders; each
of those changes the route the order is on: its sequence, estimates and version. Call
``lock_for_order_change`` before changing the order (it locks the route, then the order:
the lock order of every route operation, so the two cannot deadlock on PostgreSQL) and
``sync_route`` after the change, in the same transaction.
"""

from __future__ import annotations

from routekeeper.core.clock import utcnow
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders.states import TERMINAL
from routekeeper.routes import repository
from routekeeper.routes.operations import complete_route
from routekeeper.routes.service import RouteContext, _bump, _resequence, refresh_estimates

# A route changing under us more often than this is being moved around too fast to follow.
_ATTEMPTS = 3


def lock_for_order_change(ctx: RouteContext, order: Order) -> Route | None:
    """Lock the route ``order`` is on, then the order itself (re-read); None when it is on
    no route. Call before changing the order."""
    for _ in range(_ATTEMPTS):
        handle = order.route_handle
        if handle is None:
            repository.lock_order(ctx.session, order)
            if order.route_handle is None:
                return None
            continue
        route = repository.get_route(ctx.session, ctx.account_id, handle, lock=True)
        repository.lock_order(ctx.session, order)
        if order.route_handle == handle:
            return route
        # The order moved to another route while we waited for the lock: follow it.
    return None


def sync_route(ctx: RouteContext, route: Route) -> Route:
    """Close up the sequence, bump the version and re-estimate after an order changed; a
    route being driven with nothing left to do is completed."""
    if route.status == "completed":
        return route  # a late change to a finished route's order reopens nothing
    sequence = repository.route_orders(ctx.session, route)
    if route.status == "tracking" and sequence and all(o.status in TERMINAL for o in sequence):
        return complete_route(ctx, route.route_handle, version=None, source="orders_finished")
    _resequence(sequence)
    _bump(ctx, route, utcnow())
    refresh_estimates(ctx, route, sequence)
    return route
