"""The route aggregate: one route and the orders on it change through one unit of work.

Every writer of routes and of the orders on them goes through :func:`edit` (an existing
route), :func:`create_route` (a new one) or :func:`order_change` (an order changed by the
orders domain). Inside an edit the caller attaches, detaches, moves, reorders and assigns
orders; on exit the edit numbers the sequence, bumps the route's version once, records the
route's events once and re-estimates the route and its open orders. That is how the rule
"an order is on at most one open route, in a sequence with fresh estimates and a bumped
version" has one owner. Nothing here commits; the caller's session does, with every order
change, timeline entry and outbox event of the operation.

Concurrency: every mutation locks the route rows first (by handle), then the order rows it
moves (by id), with ``FOR UPDATE`` on PostgreSQL (SQLite writers are serialised by ``BEGIN
IMMEDIATE``); a locked row is re-read, never trusted from earlier in the session. An order
joins a route only while it is ``unplanned`` and on no route, so it is on at most one route.
Anything else that locks both routes and orders must take them in the same order, or two
requests can deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import conflict
from routekeeper.core.ids import new_id
from routekeeper.core.timefmt import format_ts
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker
from routekeeper.orders import service as orders
from routekeeper.orders.states import TERMINAL, OrderStatus
from routekeeper.orders.wire import share_url
from routekeeper.routes import daystops, repository
from routekeeper.routes.context import RouteContext, device_of, find_group, route_worker
from routekeeper.routes.estimates import estimate_route, first_leg_s
from routekeeper.routes.locations import returns_to_start, start_location
from routekeeper.routes.sequencing import departure, insert_cheapest, optimise_order
from routekeeper.routes.states import RouteStatus
from routekeeper.routes.stops import estimate_wire, stop_estimate_wire, stop_input
from routekeeper.tracking.service import catch_up, on_route_completed
from routekeeper.webhooks.outbox import record_event, record_order_event

# A route changing under us more often than this is being moved around too fast to follow.
_ATTEMPTS = 3


def orders_of_routes(session: Session, routes: list[Route]) -> dict[str, list[Order]]:
    """The orders of several routes of one account (one query), in sequence, by handle."""
    return repository.routes_orders(session, routes)


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


def leaves_at(route: Route, now: datetime) -> datetime:
    """The departure that sequencing measures windows from: now once the route is being
    driven, else its scheduled start (or now when it has none)."""
    if route.status == RouteStatus.TRACKING or route.scheduled_start_at is None:
        return now
    return route.scheduled_start_at


def optimised_sequence(
    ctx: RouteContext, route: Route, movable: list[Order], group: OpsGroup,
    worker: Worker | None,
) -> list[Order]:
    """``movable`` in the order the solver finds shortest within their windows."""
    start = start_location(ctx.session, group, worker, live=ctx.live)
    stops = [stop_input(o) for o in movable]
    sequence = optimise_order(
        stops, start=start, depart_at=leaves_at(route, utcnow()), travel=ctx.travel,
        return_to_start=returns_to_start(group),
        time_budget_s=min(ctx.settings.planning.time_budget_s, 2.0),
        seed=ctx.settings.planning.seed,
    )
    by_id = {o.id: o for o in movable}
    return [by_id[s.key] for s in sequence]


def _route_event(ctx: RouteContext, route: Route, value: str) -> None:
    record_event(
        ctx.session, account_id=ctx.account_id, type="route", value=value,
        device_id=route.device_id, worker_handle=route.worker_handle,
        route_handle=route.route_handle,
        data={"route_handle": route.route_handle, "status": route.status,
              "version": route.version, "plan_id": route.plan_id,
              "ops_group_handle": route.ops_group_handle},
    )


def _route_status(route: Route) -> OrderStatus:
    if route.status == RouteStatus.TRACKING:
        return OrderStatus.ONGOING
    return OrderStatus.ASSIGNED if route.worker_handle else OrderStatus.PLANNED


def _start_order(ctx: RouteContext, route: Route, order: Order, now: datetime) -> None:
    order.status = OrderStatus.ONGOING.value
    order.started_at = now
    order.track_mode = route.track_mode
    orders.add_timeline(ctx.session, order, "order_started", recorded_at=now)
    record_order_event(ctx.session, order, "started", recorded_at=now,
                       share_url=share_url(order, ctx.public_url))


def _live(order: Order) -> bool:
    return order.status not in (*TERMINAL, OrderStatus.DISABLED.value)


def _estimate(ctx: RouteContext, route: Route, route_orders: Sequence[Order]) -> None:
    """Recompute the route's and its open orders' estimates (disabled orders are left out)."""
    group = find_group(ctx, route.ops_group_handle)
    worker = ctx.session.get(Worker, (ctx.account_id, route.worker_handle)) \
        if route.worker_handle else None
    open_orders = [o for o in route_orders if _live(o)]
    start = start_location(ctx.session, group, worker, live=ctx.live)
    stops = daystops.interleave(route, [stop_input(o) for o in open_orders], start)
    now = utcnow()
    first_leg = first_leg_s(ctx.travel, start, stops)
    depart_at = departure(stops, scheduled_start_at=route.scheduled_start_at, now=now,
                          first_leg_s=first_leg) if route.status != RouteStatus.TRACKING else now
    estimate = estimate_route(start=start, stops=stops, depart_at=depart_at, travel=ctx.travel,
                              return_to_start=returns_to_start(group))
    route.completion_type = group.route_completion_type
    route.start_by = None if estimate.unreachable_legs else estimate.start_by
    # With nothing left to visit there is no drive to estimate (and no LineString to draw).
    route.estimate = estimate_wire(estimate) if stops else None
    daystops.record(route, estimate)
    by_key = {s.key: s for s in estimate.stops}
    for order in route_orders:
        stop = by_key.get(order.id)
        if stop is None:
            if order.status in TERMINAL:
                continue
            order.estimate = None
            continue
        previous = order.estimate or {}
        order.estimate = {**stop_estimate_wire(stop),
                          "initial_arrive_at": previous.get("initial_arrive_at")}


class RouteEdit:
    """One change to a locked route and its orders (see :func:`edit`).

    ``sequence`` is the route's orders in their new order; the methods keep it and the orders'
    route fields in step, :meth:`finish` makes the route consistent.
    """

    def __init__(self, ctx: RouteContext, route: Route, *, events: Sequence[str],
                 bump: bool, estimate: bool) -> None:
        """Read the route's orders (in sequence); the route must be locked already."""
        self.ctx = ctx
        self.route = route
        self.now = utcnow()
        self.sequence: list[Order] = repository.route_orders(ctx.session, route)
        self._events = list(events)
        self._bump = bump
        self._estimate = estimate
        self._dissolved = False
        self._finished = False

    def attach(self, order: Order, *, cheapest: bool = False) -> None:
        """Put an unplanned order on the route: at the end, or with ``cheapest`` at its
        cheapest feasible place among the open orders."""
        if order.status != OrderStatus.UNPLANNED.value or order.route_handle is not None:
            raise conflict(
                "order_not_unplanned", "Only unplanned orders can be added to a route",
                {"description": f"Order {order.order_handle} is {order.status}"
                                + (f" on route {order.route_handle}" if order.route_handle
                                   else ""),
                 "order_handle": order.order_handle},
            )
        route, now = self.route, self.now
        order.route_handle = route.route_handle
        order.plan_id = route.plan_id
        order.planning_failure_reason = None
        order.planned_at = now
        order.updated_at = now
        orders.add_timeline(self.ctx.session, order, "order_planned", recorded_at=now)
        self.assign(order)
        if cheapest:
            self.sequence = self._inserted(order)
        else:
            self.sequence.append(order)

    def _inserted(self, order: Order) -> list[Order]:
        group = find_group(self.ctx, self.route.ops_group_handle)
        start = start_location(self.ctx.session, group, route_worker(self.ctx, self.route),
                               live=self.ctx.live)
        settled, open_, disabled = split_sequence(self.sequence)
        by_id = {o.id: o for o in [*self.sequence, order]}
        stops = insert_cheapest([stop_input(o) for o in open_], stop_input(order),
                                first_free=0, start=start,
                                depart_at=leaves_at(self.route, self.now),
                                travel=self.ctx.travel, return_to_start=returns_to_start(group))
        return settled + [by_id[s.key] for s in stops] + disabled

    def detach(self, order: Order, *, record: bool = True) -> None:
        """Take an order off the route, back to ``unplanned``; ``record`` writes its
        timeline entry and ``updated`` event (a move to another route writes its own)."""
        self.sequence = [o for o in self.sequence if o is not order]
        orders.unplan(order)
        if record:
            order.updated_at = self.now
            orders.add_timeline(self.ctx.session, order, "order_unplanned",
                                recorded_at=self.now,
                                removed_from_route=self.route.route_handle)
            record_order_event(self.ctx.session, order, "updated", recorded_at=self.now)

    def reorder(self, sequence: Iterable[Order]) -> None:
        """Give the route's orders a new sequence (the same orders)."""
        self.sequence = list(sequence)

    def assign(self, order: Order) -> None:
        """Give an order on the route the route's worker, device and matching status."""
        ctx, route, now = self.ctx, self.route, self.now
        target = _route_status(route)
        changed_worker = order.worker_handle != route.worker_handle
        order.worker_handle = route.worker_handle
        order.device_id = route.device_id
        if order.status == OrderStatus.DISABLED.value:
            return
        order.status = target.value
        if route.worker_handle and changed_worker:
            order.assigned_at = now
            orders.add_timeline(ctx.session, order, "order_assigned", recorded_at=now,
                                driver_handle=route.worker_handle)
            record_order_event(ctx.session, order, "assigned", recorded_at=now,
                               share_url=share_url(order, ctx.public_url),
                               assigned_at=format_ts(now))
        if target is OrderStatus.ONGOING and order.started_at is None:
            _start_order(ctx, route, order, now)

    def assign_open(self) -> None:
        """:meth:`assign` every order of the route that is not finished."""
        for order in self.sequence:
            if order.status not in TERMINAL:
                self.assign(order)

    def dissolve(self) -> None:
        """Delete the route instead of finishing it (it must have no orders left)."""
        assert not self.sequence
        self._dissolved = True

    def finish(self) -> None:
        """Number the sequence, bump the version once, record the route's events and
        re-estimate (a completed route keeps no estimate). Idempotent."""
        if self._finished:
            return
        self._finished = True
        ctx, route = self.ctx, self.route
        if self._dissolved:
            ctx.session.delete(route)
            return
        for index, order in enumerate(self.sequence):
            order.route_sequence = index
        if self._bump:
            route.version += 1
            route.updated_at = self.now
        for event in self._events:
            _route_event(ctx, route, event)
        if self._estimate and route.status != RouteStatus.COMPLETED:
            _estimate(ctx, route, self.sequence)


@contextmanager
def edit(ctx: RouteContext, route: Route, *, events: Sequence[str] = ("updated",),
         bump: bool = True, estimate: bool = True) -> Iterator[RouteEdit]:
    """Change a locked route and its orders as one unit of work.

    On a normal exit the route is made consistent (:meth:`RouteEdit.finish`): ``bump``
    moves its version on by one, each of ``events`` is recorded once, and ``estimate``
    re-estimates it. An exception leaves the route as it was for the rollback to discard.
    """
    change = RouteEdit(ctx, route, events=events, bump=bump, estimate=estimate)
    yield change
    change.finish()


def create_route(
    ctx: RouteContext,
    route_orders: list[Order],
    *,
    group: OpsGroup,
    worker: Worker | None,
    device_id: str | None = None,
    track_mode: str | None = None,
    plan_mode: str = "manual",
    plan_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    route_handle: str | None = None,
    optimise: bool = False,
    scheduled_start_at: datetime | None = None,
    day_stops: list[dict[str, Any]] | None = None,
    bound_by: dict[str, Any] | None = None,
) -> Route:
    """Create a route over unplanned orders, in the given sequence (or optimised)."""
    handle = route_handle or new_id()
    if repository.get_route(ctx.session, ctx.account_id, handle, lock=False) is not None:
        raise conflict("duplicate_resource", "Duplicate route found with this ID",
                       {"description": f"Route {handle} already exists"})
    now = utcnow()
    device = device_of(ctx, worker, device_id) if worker else device_id
    route = Route(
        account_id=ctx.account_id, route_handle=handle,
        status=(RouteStatus.ASSIGNED if worker else RouteStatus.PLANNED).value, version=1,
        ops_group_handle=group.ops_group_handle, track_mode=track_mode, plan_mode=plan_mode,
        plan_id=plan_id, worker_handle=worker.worker_handle if worker else None,
        device_id=device, metadata_=metadata or {}, created_at=now, updated_at=now,
        planned_at=now, assigned_at=now if worker else None,
        scheduled_start_at=scheduled_start_at, bound_by=bound_by,
        created_by={"source": "api", "timestamp": format_ts(now)},
    )
    if day_stops:
        route.day_stops = day_stops
    ctx.session.add(route)
    ctx.session.flush()
    if optimise and len(route_orders) > 1:
        route_orders = optimised_sequence(ctx, route, route_orders, group, worker)
    events = ("created", "assigned") if worker else ("created",)
    with edit(ctx, route, events=events, bump=False) as change:
        for order in route_orders:
            change.attach(order)
    ctx.session.flush()
    return route


def complete(ctx: RouteContext, route: Route, *, source: str) -> Route:
    """Complete a locked, open route; its orders that are not finished are cancelled.

    A tracked route gets its final actuals (polyline, distance, tracking rate) here, before
    its ``completed`` event; an untracked one (never started) is left as it is.
    """
    # What the worker's devices sent up to now counts for the orders it closes.
    catch_up(ctx.session, ctx.settings, ctx.travel, route)
    with edit(ctx, route, events=("completed",), estimate=False) as change:
        for order in change.sequence:
            if order.status not in TERMINAL:
                orders.cancel_order(ctx.session, order, public_url=ctx.public_url,
                                    source="route_completed", tracking=ctx.settings.tracking)
        route.status = RouteStatus.COMPLETED.value
        route.completed_at = change.now
        route.completion_source = source
        if route.started_at is not None:
            route.duration = int((change.now - route.started_at).total_seconds())
        route.estimate = None
        # The hook reads the route's orders with a query and without autoflush: flush the
        # cancellations above first (the route row is locked already, so the lock order holds).
        ctx.session.flush()
        on_route_completed(ctx.session, route, settings=ctx.settings.tracking)
    return route


def _lock_route_of(ctx: RouteContext, order: Order) -> Route | None:
    """Lock the route ``order`` is on, then the order itself (re-read); None when it is on
    no route."""
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


def _follow(ctx: RouteContext, route: Route) -> None:
    """Bring a route in step after one of its orders changed; a route being driven with
    nothing left to do is completed, a completed one is left alone."""
    if route.status == RouteStatus.COMPLETED:
        return  # a late change to a finished route's order reopens nothing
    sequence = repository.route_orders(ctx.session, route)
    driven = route.status == RouteStatus.TRACKING
    if driven and sequence and all(o.status in TERMINAL for o in sequence):
        complete(ctx, route, source="orders_finished")
        return
    with edit(ctx, route):
        pass


class OrderChange:
    """What :func:`order_change` yields: ``follow`` says whether the routes follow (set it
    false when the change turned out to move nothing they depend on)."""

    def __init__(self) -> None:
        """Routes follow unless told otherwise."""
        self.follow = True


@contextmanager
def order_change(ctx: RouteContext, *changing: Order, closing: bool = False
                 ) -> Iterator[OrderChange]:
    """Change orders outside the route operations (complete, cancel, reschedule, edit...)
    and keep their routes in step.

    Before the change it locks each order's route, then the order (the lock order of every
    route operation, so the two cannot deadlock on PostgreSQL); after it, each route is
    re-sequenced, bumped and re-estimated once, or completed when its last order finished.
    A change ``closing`` orders (taking them out of their route's tracking) first has the
    fixes still waiting for a tracking route processed (``tracking.service.catch_up``).
    """
    routes: dict[str, Route] = {}
    for order in changing:
        route = _lock_route_of(ctx, order)
        if route is not None:
            routes[route.route_handle] = route
    if closing:
        for route in routes.values():
            catch_up(ctx.session, ctx.settings, ctx.travel, route)
    change = OrderChange()
    yield change
    if not change.follow:
        return
    ctx.session.flush()
    for route in routes.values():
        _follow(ctx, route)
