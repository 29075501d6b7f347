"""Write a planning run's result in one transaction: routes, reasons, plan status, events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobContext
from routekeeper.core.links import Links
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.planning.availability import day_start
from routekeeper.planning.optimizer import DROPPED_FOR_PLAN, Solution
from routekeeper.planning.optimizer import Route as PlannedRoute
from routekeeper.planning.service import get_plan
from routekeeper.routes.context import RouteContext, find_group, find_worker, lock_route
from routekeeper.routes.service import RouteEdit, create_route
from routekeeper.routes.states import NOT_STARTED, RouteStatus
from routekeeper.settings import Settings
from routekeeper.tracking.service import worker_location
from routekeeper.webhooks.outbox import record_order_event

if TYPE_CHECKING:
    from routekeeper.planning.tasks import RunInputs

CONCURRENT = "Route was being modified concurrently and this order needs to be re-planned."


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


def _valid_orders(session: Session, account_id: str, inputs: RunInputs,
                  plan_id: str) -> dict[str, Order]:
    """The run's orders, locked, that nothing changed since the run read them; an unplanned
    one of this plan that changed is told it needs another run."""
    valid: dict[str, Order] = {}
    for order in _lock_orders(session, account_id, [o.id for o in inputs.pool]):
        if order.updated_at != inputs.stamps.get(order.id):
            if order.status == "unplanned" and order.plan_id == plan_id:
                order.planning_failure_reason = CONCURRENT
            continue
        valid[order.id] = order
    return valid


def _staying(inputs: RunInputs, solution: Solution | None, valid: dict[str, Order]) -> set[str]:
    """Orders the run puts back on the route they are on: they stay attached (detaching and
    attaching them again would stamp planned_at/assigned_at anew and send a second
    "assigned" for a worker they already had)."""
    staying: set[str] = set()
    for planned in solution.routes if solution else ():
        slot_route = inputs.routes_by_worker.get(planned.vehicle_id)
        if slot_route is not None:
            staying.update(j for j in planned.job_ids
                           if j in valid and valid[j].route_handle == slot_route.route_handle)
    return staying


class _PlanWrite:
    """One run's result written through the route aggregate: every route the run may
    change is one edit, finished once."""

    def __init__(self, route_ctx: RouteContext, inputs: RunInputs, plan_id: str,
                 ops_group_handle: str, valid: dict[str, Order]) -> None:
        self.ctx = route_ctx
        self.inputs = inputs
        self.plan_id = plan_id
        self.ops_group_handle = ops_group_handle
        self.valid = valid
        self.now = utcnow()
        self.edits: dict[str, RouteEdit] = {}
        self.touched: set[str] = set()
        self.served: set[str] = set()
        self.used: set[str] = set()

    def lock_routes(self) -> None:
        """Lock every route the run may change, by handle: the lock order of every route
        operation (routes, then orders), so a run's write and a concurrent route change
        cannot deadlock on PostgreSQL."""
        inputs = self.inputs
        for handle in sorted({r.route_handle for r in inputs.routes_by_worker.values()}
                             | {o.route_handle for o in inputs.pool if o.route_handle}):
            lock_route(self.ctx, handle)

    def open_edits(self) -> None:
        """One edit per route the run may change (read after the orders were locked)."""
        for handle in sorted({r.route_handle for r in self.inputs.routes_by_worker.values()}
                             | {o.route_handle for o in self.valid.values() if o.route_handle}):
            route = self.ctx.session.get(Route, (self.ctx.account_id, handle))
            if route is not None:
                self.edits[handle] = RouteEdit(self.ctx, route, events=("updated",), bump=True,
                                               estimate=True)

    def release(self, staying: set[str]) -> None:
        """Take the run's orders off their routes, except those staying where they are."""
        for order in self.valid.values():
            if order.id not in staying and order.route_handle in self.edits:
                self.touched.add(order.route_handle)
                self.edits[order.route_handle].detach(order, record=False)
            elif order.id not in staying:
                order.status = "unplanned"
            order.plan_id = self.plan_id

    def place(self, planned: PlannedRoute, staying: set[str]) -> None:
        """Put a solved route's orders on the worker's route, or on a new one."""
        inputs = self.inputs
        route_orders = [self.valid[j] for j in planned.job_ids if j in self.valid]
        if not route_orders:
            return
        worker = find_worker(self.ctx, planned.vehicle_id)
        slot_route = inputs.routes_by_worker.get(planned.vehicle_id)
        departs = planned_departure(inputs, planned, self.now)
        if slot_route is None:
            create_route(self.ctx, route_orders,
                         group=find_group(self.ctx, self.ops_group_handle),
                         worker=worker, plan_mode=inputs.mode, plan_id=self.plan_id,
                         track_mode=None, scheduled_start_at=departs,
                         day_stops=inputs.day_stops.get(planned.vehicle_id),
                         bound_by=inputs.bound_by.get(planned.vehicle_id))
        else:
            change = self.edits[slot_route.route_handle]
            route = change.route
            # Orders left on the route: done or under way (not planned by this run), or
            # changed meanwhile.
            kept = [o for o in change.sequence if o.id not in staying]
            for order in route_orders:
                if order.id not in staying:
                    change.attach(order)
            change.reorder(kept + route_orders)
            if route.status != RouteStatus.TRACKING:
                route.scheduled_start_at = departs
            route.day_stops = inputs.day_stops.get(planned.vehicle_id)
            route.bound_by = inputs.bound_by.get(planned.vehicle_id)
            change.finish()
            self.used.add(route.route_handle)
        self.served.update(o.id for o in route_orders)

    def close_unused(self) -> None:
        """Finish the routes the run took orders from but gave none: dissolved when nothing
        is left on a route not yet driven, else re-sequenced and re-estimated."""
        workers_routes = {r.route_handle for r in self.inputs.routes_by_worker.values()}
        for handle, change in self.edits.items():
            if handle in self.used or (handle not in workers_routes
                                       and handle not in self.touched):
                continue
            if not change.sequence and change.route.status in NOT_STARTED:
                change.dissolve()  # every order went elsewhere or unplanned
            change.finish()


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
    # A job answers no request: any links it would render stay unsigned.
    route_ctx = RouteContext(session, account_id, settings, travel, worker_location,
                             Links(settings.public_url))
    plan = get_plan(session, account_id, inputs.plan_id, lock=True)
    write = _PlanWrite(route_ctx, inputs, plan.plan_id, plan.ops_group_handle, {})
    write.lock_routes()
    write.valid = _valid_orders(session, account_id, inputs, plan.plan_id)
    staying = _staying(inputs, solution, write.valid)
    # One flush for all routes instead of one per route: the queries below (a worker's
    # live location, a route's kept orders) never need this loop's pending rows, and 50
    # autoflushes of a few rows each cost PostgreSQL about a second in a 1,000-order plan.
    with session.no_autoflush:
        write.open_edits()
        write.release(staying)
        session.flush()
        for planned in solution.routes if solution else ():
            write.place(planned, staying)
    session.flush()
    write.close_unused()
    _record_outcome(session, plan, write, reasons, failure)


def _record_outcome(session: Session, plan: Any, write: _PlanWrite, reasons: dict[str, str],
                    failure: str | None) -> None:
    """Each order's planning outcome and event, and the plan's status."""
    now = write.now
    for order in write.valid.values():
        if order.id in write.served:
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
