"""Changes to an existing route: add, remove, resequence, optimise, reassign, patch, complete.

Each takes the optional ``?version=``: a stale one is a 409 and changes nothing. Each
successful change bumps the version and writes a route ``updated`` event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import RequestValidationFailed, conflict
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker
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
    device_of,
    find_worker,
    leaves_at,
    refresh_estimates,
    resolve_refs,
    worker_for_device,
)
from routekeeper.tracking.completion import on_route_completed
from routekeeper.webhooks.outbox import record_order_event


def _settled(order: Order) -> bool:
    """Done, or arrived at: such an order keeps its place ahead of the rest."""
    return order.status in TERMINAL or order.arrived_at is not None


def split_sequence(sequence: list[Order]) -> tuple[list[Order], list[Order], list[Order]]:
    """(settled, open, disabled) orders of a route, each in its current sequence; only the
    open ones are moved by insertion and optimisation (disabled ones are not visited)."""
    settled = [o for o in sequence if _settled(o)]
    disabled = [o for o in sequence if not _settled(o) and o.status == OrderStatus.DISABLED]
    open_ = [o for o in sequence
             if not _settled(o) and o.status != OrderStatus.DISABLED]
    return settled, open_, disabled


def route_worker(ctx: RouteContext, route: Route) -> Worker | None:
    """The route's worker row (even if since deleted: their start still places the route)."""
    if route.worker_handle is None:
        return None
    return ctx.session.get(Worker, (ctx.account_id, route.worker_handle))


def insert_orders(
    ctx: RouteContext, route: Route, sequence: list[Order], new_orders: list[Order],
    now: datetime,
) -> list[Order]:
    """``sequence`` with each new order at its cheapest feasible place among the open ones."""
    group = _group(ctx, route.ops_group_handle)
    start = start_location(ctx.session, group, route_worker(ctx, route))
    settled, open_, disabled = split_sequence(sequence)
    by_id = {o.id: o for o in [*sequence, *new_orders]}
    stops = [_stop(o) for o in open_]
    depart_at = leaves_at(route, now)
    for order in new_orders:
        stops = insert_cheapest(stops, _stop(order), first_free=0, start=start,
                                depart_at=depart_at, travel=ctx.travel,
                                return_to_start=returns_to_start(group))
    return settled + [by_id[s.key] for s in stops] + disabled


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
        sequence = insert_orders(ctx, route, sequence, new_orders, now)
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
        record_order_event(ctx.session, order, "updated", recorded_at=now)
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
    settled, open_, disabled = split_sequence(repository.route_orders(ctx.session, route))
    if len(open_) > 1:
        group = _group(ctx, route.ops_group_handle)
        open_ = _optimised(ctx, route, open_, group, route_worker(ctx, route))
    sequence = settled + open_ + disabled
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
        device = device_of(ctx, worker, body.device_id)
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
    """Complete the route; its orders that are not finished are cancelled.

    A tracked route gets its final actuals (polyline, distance, tracking rate) here, before
    its ``completed`` event; an untracked one (never started) is left as it is.
    """
    route = _for_change(ctx, route_handle, version)
    _not_completed(route)
    now = utcnow()
    for order in repository.route_orders(ctx.session, route):
        if order.status not in TERMINAL:
            orders.cancel_order(ctx.session, order, public_url=ctx.public_url,
                                source="route_completed", tracking=ctx.settings.tracking)
    route.status = "completed"
    route.completed_at = now
    route.completion_source = source
    if route.started_at is not None:
        route.duration = int((now - route.started_at).total_seconds())
    route.estimate = None
    # The hook reads the route's orders with a query and without autoflush: flush the
    # cancellations above first (the route row is locked already, so the lock order holds).
    ctx.session.flush()
    on_route_completed(ctx.session, route, settings=ctx.settings.tracking)
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
