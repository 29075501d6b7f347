"""Write a planning run's result in one transaction: routes, reasons, plan status, events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobContext
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.planning.availability import day_start
from routekeeper.planning.optimizer import DROPPED_FOR_PLAN, Solution
from routekeeper.planning.optimizer import Route as PlannedRoute
from routekeeper.planning.service import get_plan
from routekeeper.routes import repository as routes_repository
from routekeeper.routes.service import (
    RouteContext,
    _attach,
    _bump,
    _group,
    _resequence,
    create_route,
    find_worker,
    refresh_estimates,
)
from routekeeper.settings import Settings
from routekeeper.webhooks.outbox import record_order_event

if TYPE_CHECKING:
    from routekeeper.planning.tasks import RunInputs

CONCURRENT = "Route was being modified concurrently and this order needs to be re-planned."


def _detach(order: Order) -> None:
    order.status = "unplanned"
    order.route_handle = None
    order.route_sequence = None
    order.worker_handle = None
    order.device_id = None
    order.estimate = None
    order.planned_at = None
    order.assigned_at = None


LOCK_CHUNK = 500


def _lock_orders(session: Session, account_id: str, order_ids: list[str]) -> list[Order]:
    """The orders that still exist, locked and re-read, in id order.

    One ``SELECT ... ORDER BY id FOR UPDATE`` per chunk of sorted ids instead of one per
    order (a plan of 1,000 orders took 1,000 round trips); rows are still locked in id
    order, as every route operation takes them.
    """
    ids = sorted(set(order_ids))
    locked: list[Order] = []
    for start in range(0, len(ids), LOCK_CHUNK):
        locked.extend(session.scalars(
            select(Order)
            .where(Order.account_id == account_id, Order.id.in_(ids[start:start + LOCK_CHUNK]))
            .order_by(Order.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ))
    return locked


def planned_departure(inputs: RunInputs, planned: PlannedRoute, now: datetime) -> datetime | None:
    """When the solver has the worker leave (never before their shift), while still ahead.

    Stored as the route's ``scheduled_start_at``, the departure its estimates are timed from:
    without it they would leave now or just in time for the first window, which can be
    hours before the worker's shift starts. A departure already past is left to "now".
    """
    reference_at = day_start(inputs.day, inputs.group.timezone)
    departure = reference_at + timedelta(seconds=planned.start_s)
    return departure if departure > now else None


def write_plan(
    session: Session,
    ctx: JobContext,
    settings: Settings,
    travel: Any,
    inputs: RunInputs,
    solution: Solution | None,
    reasons: dict[str, str],
    failure: str | None,
) -> None:
    """Apply the run to the database (the caller completes the job in this transaction)."""
    assert ctx.account_id is not None
    account_id = ctx.account_id
    route_ctx = RouteContext(session, account_id, settings, travel)
    plan = get_plan(session, account_id, inputs.plan_id, lock=True)
    now = utcnow()
    # Lock order of every route operation: routes (by handle), then orders (by id), so a
    # run's write and a concurrent route change cannot deadlock on PostgreSQL.
    for handle in sorted({r.route_handle for r in inputs.routes_by_worker.values()}
                         | {o.route_handle for o in inputs.pool if o.route_handle}):
        routes_repository.get_route(session, account_id, handle, lock=True)
    valid: dict[str, Order] = {}
    for order in _lock_orders(session, account_id, [o.id for o in inputs.pool]):
        if order.updated_at != inputs.stamps.get(order.id):
            if order.status == "unplanned" and order.plan_id == plan.plan_id:
                order.planning_failure_reason = CONCURRENT
            continue
        valid[order.id] = order
    # Orders the run puts back on the route they are on stay attached: detaching and
    # attaching them again would stamp planned_at/assigned_at anew and send a second
    # "assigned" for a worker they already had.
    staying: set[str] = set()
    # One flush for all routes instead of one per route: the queries below (a worker's
    # live location, a route's kept orders) never need this loop's pending rows, and 50
    # autoflushes of a few rows each cost PostgreSQL about a second in a 1,000-order plan.
    with session.no_autoflush:
        for planned in solution.routes if solution else ():
            slot_route = inputs.routes_by_worker.get(planned.vehicle_id)
            if slot_route is not None:
                staying.update(j for j in planned.job_ids
                               if j in valid and valid[j].route_handle == slot_route.route_handle)
        for order in valid.values():
            if order.id not in staying:
                _detach(order)
            order.plan_id = plan.plan_id
        session.flush()

        served: set[str] = set()
        used_routes: set[str] = set()
        for planned in solution.routes if solution else ():
            slot_route = inputs.routes_by_worker.get(planned.vehicle_id)
            route_orders = [valid[j] for j in planned.job_ids if j in valid]
            if not route_orders:
                continue
            worker = find_worker(route_ctx, planned.vehicle_id)
            if slot_route is not None:
                route = routes_repository.get_route(session, account_id, slot_route.route_handle,
                                                    lock=True)
                assert route is not None
                # Orders left on the route: done or under way (not planned by this run), or
                # changed meanwhile.
                kept = [o for o in routes_repository.route_orders(session, route)
                        if o.id not in staying]
                for order in route_orders:
                    if order.id not in staying:
                        _attach(route_ctx, route, order, now)
                sequence = kept + route_orders
                _resequence(sequence)
                _bump(route_ctx, route, now)
                if route.status != "tracking":
                    route.scheduled_start_at = planned_departure(inputs, planned, now)
                route.day_stops = inputs.day_stops.get(planned.vehicle_id)
                route.bound_by = inputs.bound_by.get(planned.vehicle_id)
                refresh_estimates(route_ctx, route, sequence)
                used_routes.add(route.route_handle)
            else:
                route = create_route(route_ctx, route_orders,
                                     group=_group(route_ctx, plan.ops_group_handle),
                                     worker=worker, plan_mode=inputs.mode, plan_id=plan.plan_id,
                                     track_mode=None,
                                     scheduled_start_at=planned_departure(inputs, planned, now))
                route.bound_by = inputs.bound_by.get(planned.vehicle_id)
                extra = inputs.day_stops.get(planned.vehicle_id)
                if extra:
                    # Estimated again with the breaks and reloads between the orders.
                    route.day_stops = extra
                    refresh_estimates(route_ctx, route, route_orders)
            served.update(o.id for o in route_orders)
    session.flush()
    for old in inputs.routes_by_worker.values():
        if old.route_handle in used_routes:
            continue
        route = routes_repository.get_route(session, account_id, old.route_handle, lock=True)
        if route is None:
            continue
        remaining = routes_repository.route_orders(session, route)
        if not remaining and route.status in ("planned", "assigned"):
            session.delete(route)  # dissolved: every order went elsewhere or unplanned
        else:
            _resequence(remaining)
            _bump(route_ctx, route, now)
            refresh_estimates(route_ctx, route, remaining)
    for order in valid.values():
        if order.id in served:
            order.planning_failure_reason = None
        else:
            order.planning_failure_reason = reasons.get(order.id, DROPPED_FOR_PLAN)
        order.updated_at = now
        record_order_event(session, order,
                           "planning_failed" if failure else "planning_completed",
                           recorded_at=now, plan_id=plan.plan_id,
                           planning_failure_reason=order.planning_failure_reason)
    plan.status = "failed" if failure else "completed"
    plan.failure_reason = failure
    plan.completed_at = now
    plan.updated_at = now


def plan_routes(session: Session, account_id: str, plan_id: str) -> list[Route]:
    """The routes of a plan, oldest first."""
    return list(session.scalars(
        select(Route).where(Route.account_id == account_id, Route.plan_id == plan_id)
        .order_by(Route.created_at, Route.route_handle)
    ))
