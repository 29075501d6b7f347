"""Changes to an existing route: add, remove, resequence, optimise, reassign, patch, complete.

Each takes the optional ``?version=``: a stale one is a 409 and changes nothing. Each
successful change goes through the route aggregate (``service.edit``), which bumps the
version once and writes the route's event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from routekeeper.core.errors import RequestValidationFailed, conflict
from routekeeper.models.route import Route
from routekeeper.orders.states import TERMINAL, OrderAction, OrderStatus, can
from routekeeper.routes.context import (
    RouteContext,
    device_of,
    find_group,
    find_worker,
    lock_for_change,
    require_open,
    resolve_refs,
    route_worker,
    worker_for_device,
)
from routekeeper.routes.schemas import OrderRef, RouteReassign, RouteUpdate
from routekeeper.routes.service import (
    RouteEdit,
    complete,
    edit,
    optimised_sequence,
    split_sequence,
)
from routekeeper.routes.states import RouteStatus


@contextmanager
def _open_route(ctx: RouteContext, route_handle: str,
                version: int | None) -> Iterator[RouteEdit]:
    """An edit of a route that is still open, at ``version`` when one is given."""
    route = lock_for_change(ctx, route_handle, version)
    require_open(route)
    with edit(ctx, route) as change:
        yield change


def add_orders(
    ctx: RouteContext, route_handle: str, refs: list[OrderRef], *, resequence: bool,
    version: int | None,
) -> Route:
    """Add unplanned orders: at their cheapest feasible position, or at the end."""
    with _open_route(ctx, route_handle, version) as change:
        for order in resolve_refs(ctx, refs):
            change.attach(order, cheapest=resequence)
    return change.route


def remove_orders(
    ctx: RouteContext, route_handle: str, refs: list[OrderRef], *, version: int | None
) -> Route:
    """Take orders off the route; they return to ``unplanned``."""
    with _open_route(ctx, route_handle, version) as change:
        route = change.route
        for index, order in enumerate(resolve_refs(ctx, refs)):
            if order.route_handle != route.route_handle:
                raise RequestValidationFailed({"json": {f"orders.{index}.order_handle": [
                    f"Order {order.order_handle} is not on route {route.route_handle}."]}})
            if not can(OrderAction.UNPLAN, OrderStatus(order.status)):
                raise conflict("invalid_transition",
                               f"Cannot remove an order that is {order.status}",
                               {"description": f"Order {order.order_handle} is {order.status}; "
                                               "only orders not yet started can be removed."})
            change.detach(order)
    return route


def resequence_orders(
    ctx: RouteContext, route_handle: str, refs: list[OrderRef], *, version: int | None
) -> Route:
    """Put the route's open orders in the given sequence (finished ones stay first)."""
    with _open_route(ctx, route_handle, version) as change:
        wanted = resolve_refs(ctx, refs)
        open_ids = {o.id for o in change.sequence if o.status not in TERMINAL}
        if {o.id for o in wanted} != open_ids:
            raise RequestValidationFailed({"json": {"orders": [
                "List every open order of the route exactly once (finished orders keep "
                "their place)."]}})
        change.reorder([o for o in change.sequence if o.status in TERMINAL] + wanted)
    return change.route


def optimise_route(ctx: RouteContext, route_handle: str, *, version: int | None) -> Route:
    """Let the solver order the stops not yet reached for the shortest feasible tour."""
    with _open_route(ctx, route_handle, version) as change:
        route = change.route
        settled, open_, disabled = split_sequence(change.sequence)
        if len(open_) > 1:
            group = find_group(ctx, route.ops_group_handle)
            open_ = optimised_sequence(ctx, route, open_, group, route_worker(ctx, route))
        change.reorder(settled + open_ + disabled)
    return route


def reassign_route(
    ctx: RouteContext, route_handle: str, body: RouteReassign, *, version: int | None
) -> Route:
    """Give the route (and its open orders) to another worker or device."""
    route = lock_for_change(ctx, route_handle, version)
    require_open(route)
    if body.worker_handle or body.driver_handle:
        worker = find_worker(ctx, str(body.worker_handle or body.driver_handle))
        device = device_of(ctx, worker, body.device_id)
    else:
        assert body.device_id is not None
        worker = worker_for_device(ctx, body.device_id)
        device = body.device_id
    with edit(ctx, route, events=("assigned",)) as change:
        route.worker_handle = worker.worker_handle
        route.device_id = device
        route.assigned_at = change.now
        if route.status == RouteStatus.PLANNED:
            route.status = RouteStatus.ASSIGNED.value
        change.assign_open()
    return route


def update_route(
    ctx: RouteContext, route_handle: str, body: RouteUpdate, *, version: int | None
) -> Route:
    """Change metadata or the scheduled start (estimates follow the new start)."""
    route = lock_for_change(ctx, route_handle, version)
    fields = body.model_dump(exclude_unset=True)
    with edit(ctx, route):
        if "metadata" in fields:
            route.metadata_ = body.metadata or {}
        if "scheduled_start_at" in fields:
            route.scheduled_start_at = body.scheduled_start_at
    return route


def complete_route(ctx: RouteContext, route_handle: str, *, version: int | None,
                   source: str = "api") -> Route:
    """Complete the route; its orders that are not finished are cancelled."""
    route = lock_for_change(ctx, route_handle, version)
    require_open(route)
    return complete(ctx, route, source=source)
