"""Changes to an existing route: add, remove, resequence, optimise, reassign, patch, complete.

Each takes the optional ``?version=``: a stale one is a 409 and changes nothing. Each
successful change bumps the version and writes a route ``updated`` event.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import RequestValidationFailed, conflict
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders import service as orders
from routekeeper.orders.states import TERMINAL, OrderAction, OrderStatus, can
from routekeeper.routes import repository
from routekeeper.routes.locations import returns_to_start, start_location
from routekeeper.routes.schemas import OrderRef, RouteReassign, RouteUpdate
from routekeeper.routes.sequencing import insert_cheapest
from routekeeper.routes.service import (
    RouteContext,
    _assign_order,
    _attach,
    _bump,
    _for_change,
    _group,
    _not_completed,
    _optimised,
    _resequence,
    _route_event,
    _stop,
    find_worker,
    refresh_estimates,
    resolve_refs,
    worker_for_device,
)


def _first_free(route_orders: list[Order]) -> int:
    """Index after the last order that is done or under way (those keep their place)."""
    index = 0
    for position, order in enumerate(route_orders):
        if order.status in TERMINAL or order.arrived_at is not None:
            index = position + 1
    return index


def add_orders(
    ctx: RouteContext, route_handle: str, refs: list[OrderRef], *, resequence: bool,
    version: int | None,
) -> Route:
    """Add unplanned orders: at their cheapest feasible position, or at the end."""
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    now = utcnow()
    sequence = repository.route_orders(ctx.session, route)
    new_orders = resolve_refs(ctx, refs)
    for order in new_orders:
        _attach(ctx, route, order, now)
    if resequence:
        group = _group(ctx, route.ops_group_handle)
        worker = find_worker(ctx, route.worker_handle) if route.worker_handle else None
        start = start_location(ctx.session, group, worker)
        by_id = {o.id: o for o in [*sequence, *new_orders]}
        stops = [_stop(o) for o in sequence if o.status not in TERMINAL]
        settled = [o for o in sequence if o.status in TERMINAL]
        for order in new_orders:
            stops = insert_cheapest(
                stops, _stop(order), first_free=_first_free(
                    [by_id[s.key] for s in stops]),
                start=start, depart_at=route.scheduled_start_at or now, travel=ctx.travel,
                return_to_start=returns_to_start(group),
            )
        sequence = settled + [by_id[s.key] for s in stops]
    else:
        sequence = [*sequence, *new_orders]
    _resequence(sequence)
    _bump(ctx, route, now)
    refresh_estimates(ctx, route, sequence)
    return route


def remove_orders(
    ctx: RouteContext, route_handle: str, refs: list[OrderRef], *, version: int | None
) -> Route:
    """Take orders off the route; they return to ``unplanned``."""
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    now = utcnow()
    targets = resolve_refs(ctx, refs)
    for index, order in enumerate(targets):
        if order.route_handle != route.route_handle:
            raise RequestValidationFailed({"json": {f"orders.{index}.order_handle": [
                f"Order {order.order_handle} is not on route {route.route_handle}."]}})
        if not can(OrderAction.UNPLAN, OrderStatus(order.status)):
            raise conflict("invalid_transition",
                           f"Cannot remove an order that is {order.status}",
                           {"description": f"Order {order.order_handle} is {order.status}; "
                                           "only orders not yet started can be removed."})
        order.status = OrderStatus.UNPLANNED.value
        order.route_handle = None
        order.route_sequence = None
        order.plan_id = None
        order.worker_handle = None
        order.device_id = None
        order.estimate = None
        order.planned_at = None
        order.assigned_at = None
        order.updated_at = now
        orders.add_timeline(ctx.session, order, "order_unplanned", recorded_at=now,
                            removed_from_route=route.route_handle)
        orders.record_order_event(ctx.session, order, "updated", recorded_at=now)
    ctx.session.flush()
    remaining = repository.route_orders(ctx.session, route)
    _resequence(remaining)
    _bump(ctx, route, now)
    refresh_estimates(ctx, route, remaining)
    return route


def resequence_orders(
    ctx: RouteContext, route_handle: str, refs: list[OrderRef], *, version: int | None
) -> Route:
    """Put the route's open orders in the given sequence (finished ones stay first)."""
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    current = repository.route_orders(ctx.session, route)
    wanted = resolve_refs(ctx, refs)
    open_ids = {o.id for o in current if o.status not in TERMINAL}
    if {o.id for o in wanted} != open_ids:
        raise RequestValidationFailed({"json": {"orders": [
            "List every open order of the route exactly once (finished orders keep their "
            "place)."]}})
    sequence = [o for o in current if o.status in TERMINAL] + wanted
    _resequence(sequence)
    _bump(ctx, route, utcnow())
    refresh_estimates(ctx, route, sequence)
    return route


def optimise_route(ctx: RouteContext, route_handle: str, *, version: int | None) -> Route:
    """Let the solver order the stops not yet reached for the shortest feasible tour."""
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    current = repository.route_orders(ctx.session, route)
    split = _first_free(current)
    fixed, movable = current[:split], current[split:]
    group = _group(ctx, route.ops_group_handle)
    worker = find_worker(ctx, route.worker_handle) if route.worker_handle else None
    if len(movable) > 1:
        movable = _optimised(ctx, route, movable, group, worker)
    sequence = fixed + movable
    _resequence(sequence)
    _bump(ctx, route, utcnow())
    refresh_estimates(ctx, route, sequence)
    return route


def reassign_route(
    ctx: RouteContext, route_handle: str, body: RouteReassign, *, version: int | None
) -> Route:
    """Give the route (and its open orders) to another worker or device."""
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    now = utcnow()
    if body.worker_handle or body.driver_handle:
        worker = find_worker(ctx, str(body.worker_handle or body.driver_handle))
        if body.device_id and body.device_id not in (worker.device_ids or []):
            worker_for_device(ctx, body.device_id)  # 404 when the device is unknown
        device = body.device_id or (worker.device_ids or [None])[0]
    else:
        assert body.device_id is not None
        worker = worker_for_device(ctx, body.device_id)
        device = body.device_id
    route.worker_handle = worker.worker_handle
    route.device_id = device
    route.assigned_at = now
    if route.status == "planned":
        route.status = "assigned"
    sequence = repository.route_orders(ctx.session, route)
    for order in sequence:
        if order.status not in TERMINAL:
            _assign_order(ctx, route, order, now)
    _bump(ctx, route, now, event=None)
    _route_event(ctx, route, "assigned")
    refresh_estimates(ctx, route, sequence)
    return route


def update_route(
    ctx: RouteContext, route_handle: str, body: RouteUpdate, *, version: int | None
) -> Route:
    """Change metadata or the scheduled start (estimates follow the new start)."""
    route = _for_change(ctx, route_handle, version)
    fields = body.model_dump(exclude_unset=True)
    if "metadata" in fields:
        route.metadata_ = body.metadata or {}
    if "scheduled_start_at" in fields:
        route.scheduled_start_at = body.scheduled_start_at
    _bump(ctx, route, utcnow())
    if route.status != "completed":
        refresh_estimates(ctx, route, repository.route_orders(ctx.session, route))
    return route


def complete_route(ctx: RouteContext, route_handle: str, *, version: int | None,
                   source: str = "api") -> Route:
    """Complete the route; its orders that are not finished are cancelled."""
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    now = utcnow()
    for order in repository.route_orders(ctx.session, route):
        if order.status not in TERMINAL:
            orders.cancel_order(ctx.session, order, public_url=ctx.public_url,
                                source="route_completed")
    route.status = "completed"
    route.completed_at = now
    route.completion_source = source
    if route.started_at is not None:
        route.duration = int((now - route.started_at).total_seconds())
    route.estimate = None
    _bump(ctx, route, now, event=None)
    _route_event(ctx, route, "completed")
    return route


def complete_if_done(session: Session, ctx: RouteContext, route: Route) -> None:
    """Complete a tracking route once every order on it is finished."""
    if route.status == "completed":
        return
    sequence = repository.route_orders(session, route)
    if sequence and all(o.status in TERMINAL for o in sequence):
        complete_route(ctx, route.route_handle, version=None, source="orders_finished")
