"""The planning run (``planning.solve``): read inputs, solve in the worker, write the plan.

A run has three steps: (1) a short transaction marks the run started and bumps the plan's
``sequence_number``; (2) the inputs are read and solved outside any transaction, so a long
solve holds no locks; (3) one transaction re-checks every order it moves (an order changed
meanwhile is left unplanned with the concurrency reason), writes routes, reasons and events,
and completes the job (fenced, so a run whose lease was lost writes nothing).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobContext, registry
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.plan import Plan
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker
from routekeeper.orders.service import add_timeline
from routekeeper.orders.states import TERMINAL
from routekeeper.places import service as places
from routekeeper.planning.availability import Shift, day_start, shift_on
from routekeeper.planning.binding import binding
from routekeeper.planning.daystops import day_stops
from routekeeper.planning.openings import Opening, opening_on
from routekeeper.planning.optimizer import NO_WORKER, Solution, solve
from routekeeper.planning.problem import WorkerSlot, build_problem
from routekeeper.planning.service import PLAN_TASK, get_plan
from routekeeper.planning.writer import write_plan
from routekeeper.routes.locations import live_location, start_location
from routekeeper.settings import Settings
from routekeeper.tracking.service import worker_location
from routekeeper.travel import TravelError, travel_model_from_settings
from routekeeper.travel.base import TRAVEL_FAILURE_MESSAGE
from routekeeper.webhooks.outbox import record_order_event

log = logging.getLogger(__name__)

START_UNAVAILABLE = (
    "Worker start location is unavailable for the configured route start setting."
)
NO_WORKERS_AVAILABLE = "No Workers Available"


@dataclass
class RunInputs:
    """Everything read for one run (plain values; no open session needed to use them)."""

    plan_id: str
    mode: str
    group: OpsGroup
    day: date
    pool: list[Order] = field(default_factory=list)
    slots: list[WorkerSlot] = field(default_factory=list)
    # The plan's routes that this run may change, by worker handle.
    routes_by_worker: dict[str, Route] = field(default_factory=dict)
    # Orders that stay first on a kept route (done or under way), by route handle.
    settled: dict[str, list[Order]] = field(default_factory=dict)
    workers_without_start: int = 0
    stamps: dict[str, datetime] = field(default_factory=dict)
    # When each order's place takes visits on the plan's day (orders at no place: absent).
    openings: dict[str, Opening] = field(default_factory=dict)
    # Breaks and reloads of each solved route, by worker handle (set by run_solver).
    day_stops: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    # What bound each solved route, by worker handle (set by run_solver).
    bound_by: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The stop under way on each route being driven, by route handle.
    under_way: dict[str, Order] = field(default_factory=dict)
    # Re-plan with keep_with_worker: order id -> the worker it must stay with.
    keep: dict[str, str] = field(default_factory=dict)
    # Re-plan with allow_moves or free: how many open orders may leave each route (None: any).
    max_moves: int | None = None


def _settled(order: Order) -> bool:
    return order.status in TERMINAL or order.arrived_at is not None or order.status == "disabled"


def _matches(profile: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    return not wanted or all((profile or {}).get(k) == v for k, v in wanted.items())


def _read_routes(session: Session, plan: Plan, inputs: RunInputs, *,
                 replan: Any) -> set[str]:
    """Put the open orders of the plan's routes this run may change into the pool (the
    settled ones and a stop under way stay); the workers whose route it must not change."""
    mode = inputs.mode
    routes = session.scalars(
        select(Route).where(Route.account_id == plan.account_id, Route.plan_id == plan.plan_id,
                            Route.status != "completed")
    ).all()
    busy: set[str] = set()
    for route in routes:
        if route.status == "tracking" and mode == "scheduled" and not replan:
            # A scheduled run never changes a route that is already being driven.
            if route.worker_handle:
                busy.add(route.worker_handle)
            continue
        _read_route(session, plan, route, inputs, replan=replan)
    return busy


def _read_route(session: Session, plan: Plan, route: Route, inputs: RunInputs, *,
                replan: Any) -> None:
    """One route's orders: settled ones stay, open ones go to the pool."""
    route_orders = session.scalars(
        select(Order).where(Order.account_id == plan.account_id,
                            Order.route_handle == route.route_handle)
        .order_by(Order.route_sequence)
    ).all()
    settled = [o for o in route_orders if _settled(o)]
    open_orders = [o for o in route_orders if not _settled(o)]
    if route.status == "tracking" and open_orders and replan != "free":
        # The stop the worker is driving to is under way: it stays next on this route,
        # with this worker, and the rest is planned from there ("free" redirects too).
        inputs.under_way[route.route_handle] = open_orders[0]
        settled.append(open_orders.pop(0))
    inputs.settled[route.route_handle] = settled
    inputs.pool.extend(open_orders)
    if replan == "keep_with_worker" and route.worker_handle:
        inputs.keep.update((o.id, route.worker_handle) for o in open_orders)
    elif replan and route.worker_handle and inputs.max_moves is not None:
        # At most ``max_moves`` open orders may leave the route: its earliest (the next ones
        # the worker drives to, the customers told first) stay with the worker.
        staying = open_orders[:max(0, len(open_orders) - inputs.max_moves)]
        inputs.keep.update((o.id, route.worker_handle) for o in staying)
    if route.worker_handle:
        inputs.routes_by_worker[route.worker_handle] = route


def _slot(session: Session, inputs: RunInputs, worker: Worker, shift: Shift,
          now: datetime) -> WorkerSlot | None:
    """The worker's slot in the run: where and when they can start (None: nowhere known)."""
    start = start_location(session, inputs.group, worker, live=worker_location)
    own_route = inputs.routes_by_worker.get(worker.worker_handle)
    settled = inputs.settled.get(own_route.route_handle, []) if own_route else []
    driving = own_route is not None and own_route.status == "tracking"
    fix = live_location(session, worker, worker_location) if driving else None
    fixed: tuple[Order, ...] = ()
    if fix is not None:
        # Where the worker is now: the stop under way is driven to from there.
        assert own_route is not None
        start = fix
        under = inputs.under_way.get(own_route.route_handle)
        fixed = (under,) if under is not None else ()
    elif settled:
        last = settled[-1]
        assert last.destination_lon is not None and last.destination_lat is not None
        start = (last.destination_lon, last.destination_lat)
    if start is None:
        return None
    # No route can leave in the past: a plan for today starts its workers now at the
    # earliest (for a later day, now is before every shift anyway).
    ready = max(shift.start_at, now)
    return WorkerSlot(worker=worker, shift=shift, start=start, ready_at=ready,
                      route_handle=own_route.route_handle if own_route else None, fixed=fixed)


def read_inputs(session: Session, plan: Plan, payload: dict[str, Any]) -> RunInputs:
    """Read the orders to plan and the workers who can take them on the plan's day."""
    group = session.get(OpsGroup, (plan.account_id, plan.ops_group_handle))
    assert group is not None
    mode = str(payload.get("mode") or plan.plan_mode)
    inputs = RunInputs(plan.plan_id, mode, group, date.fromisoformat(plan.fulfillment_date))
    only = set(payload["order_ids"]) if payload.get("order_ids") else None
    # A re-plan of the rest of the day (extension) includes routes being driven.
    replan = payload.get("replan")
    limit = payload.get("max_moves_per_route")
    inputs.max_moves = int(limit) if limit is not None else None
    busy = _read_routes(session, plan, inputs, replan=replan)
    unplanned = session.scalars(
        select(Order).where(Order.account_id == plan.account_id, Order.plan_id == plan.plan_id,
                            Order.status == "unplanned")
    ).all()
    inputs.pool.extend(unplanned)
    if only is not None:
        inputs.pool = [o for o in inputs.pool if o.id in only or o.route_handle is not None]
    inputs.stamps = {o.id: o.updated_at for o in inputs.pool}
    inputs.openings = _openings(session, plan.account_id, inputs.pool, inputs.day,
                                group.timezone)
    now = utcnow()
    workers = session.scalars(
        select(Worker).where(Worker.account_id == plan.account_id,
                             Worker.ops_group_handle == group.ops_group_handle,
                             Worker.deleted_at.is_(None))
        .order_by(Worker.worker_handle)
    ).all()
    for worker in workers:
        if worker.worker_handle in busy or not _matches(worker.profile,
                                                        payload.get("profile_filter")):
            continue
        shift = shift_on(worker, group, inputs.day)
        if shift is None:
            continue
        slot = _slot(session, inputs, worker, shift, now)
        if slot is None:
            inputs.workers_without_start += 1
            continue
        inputs.slots.append(slot)
    return inputs


def _openings(session: Session, account_id: str, pool: list[Order], day: date,
              timezone: str) -> dict[str, Opening]:
    """The opening of each pooled order's place on the plan's day."""
    at = {o.id: str((o.destination or {}).get("place_handle") or "") for o in pool}
    found = places.by_handles(session, account_id, {h for h in at.values() if h})
    return {order_id: opening_on(found[h].timings or [], found[h].closed_on or [], day,
                                 timezone)
            for order_id, h in at.items() if h in found}


def solver_processes(settings: Settings) -> int:
    """Solver processes to keep ready: the setting, or one per core."""
    return settings.planning.processes or max(1, os.cpu_count() or 1)


def _budget(settings: Settings, num_orders: int, spent_s: float = 0.0) -> float:
    # Small problems converge fast (0.1 s per order, so 100 orders get the full default
    # 10 s); the optimizer also stops early when it stops improving. The run's own time
    # before the solve (starting it, reading the inputs, the travel matrix) is spent from
    # the budget, as the optimizer spends its preparation from it: a run's read + solve
    # then takes about the budget, not the budget plus everything before it.
    wanted = min(settings.planning.time_budget_s, 0.1 * num_orders)
    return max(settings.planning.min_time_budget_s, wanted - spent_s)


def run_solver(
    inputs: RunInputs, settings: Settings, travel: Any, *, started: float | None = None
) -> tuple[Solution | None, dict[str, str], str | None]:
    """Solve; returns (solution, reasons for orders planned by no one, plan failure reason).

    ``started`` is the ``time.monotonic()`` at which the run began; the time since then is
    taken from the solver's budget.
    """
    if not inputs.pool:
        return None, {}, None
    if not inputs.slots:
        reason = START_UNAVAILABLE if inputs.workers_without_start else NO_WORKER
        return None, {o.id: reason for o in inputs.pool}, NO_WORKERS_AVAILABLE
    available = {slot.worker.worker_handle for slot in inputs.slots}
    # Orders kept with a worker who cannot work this run stay unplanned: none may take them.
    stranded = {o.id: NO_WORKER for o in inputs.pool
                if o.id in inputs.keep and inputs.keep[o.id] not in available}
    try:
        built = build_problem(group=inputs.group, slots=inputs.slots,
                              orders=[o for o in inputs.pool if o.id not in stranded],
                              reference_at=day_start(inputs.day, inputs.group.timezone),
                              travel=travel, openings=inputs.openings, keep=inputs.keep)
    except TravelError:
        return None, {o.id: TRAVEL_FAILURE_MESSAGE for o in inputs.pool}, TRAVEL_FAILURE_MESSAGE
    spent_s = time.monotonic() - started if started is not None else 0.0
    solution = solve(built.problem, time_budget_s=_budget(settings, len(inputs.pool), spent_s),
                     seed=settings.planning.seed,
                     # 0: as many seeds as there are idle cores when the run starts.
                     processes=settings.planning.processes)
    inputs.day_stops = {planned.vehicle_id: day_stops(built.problem, planned, built.reference_at)
                        for planned in solution.routes}
    inputs.bound_by = {planned.vehicle_id: binding(built.problem, planned, built.reference_at)
                       for planned in solution.routes}
    return solution, {**stranded, **built.unreachable, **dict(solution.unassigned)}, None


@registry.register(PLAN_TASK, max_attempts=3)
def solve_plan(ctx: JobContext) -> None:
    """Run planning for one plan."""
    settings: Settings = ctx.env["settings"]
    travel = ctx.env.get("travel") or travel_model_from_settings(settings.routing)
    assert ctx.account_id is not None
    plan_id = str(ctx.payload["plan_id"])
    started = time.monotonic()
    now = utcnow()
    with ctx.db.write() as session:
        plan = get_plan(session, ctx.account_id, plan_id, lock=True)
        if plan.pending_job_id == ctx.job_id:
            plan.pending_job_id = None
        plan.sequence_number += 1
        plan.status = "planning"
        plan.started_at = now
        plan.failure_reason = None
        plan.updated_at = now
        for order in session.scalars(
            select(Order).where(Order.account_id == ctx.account_id, Order.plan_id == plan_id,
                                Order.status == "unplanned")
        ):
            record_order_event(session, order, "planning_started", recorded_at=now,
                               plan_id=plan_id)
    with ctx.db.read() as session:
        plan = get_plan(session, ctx.account_id, plan_id)
        inputs = read_inputs(session, plan, ctx.payload)
        session.expunge_all()
    ctx.heartbeat()
    solve_started = time.monotonic()
    try:
        solution, reasons, failure = run_solver(inputs, settings, travel, started=started)
    except Exception as exc:
        log.exception("planning %s failed", plan_id)
        solution, reasons, failure = None, {}, f"Planning failed: {type(exc).__name__}"
    solve_s = time.monotonic() - solve_started
    ctx.heartbeat()
    with ctx.db.write() as session:
        write_plan(session, ctx, settings, travel, inputs, solution, reasons, failure)
        if ctx.payload.get("replan") and not failure:
            record_moves(session, inputs, str(ctx.payload["replan"]))
        ctx.complete(session)
    _count_run(solution, reasons, failure, solve_s)


REPLANNED = "order_replanned"


def _place(order: Order) -> dict[str, Any]:
    return {"route_handle": order.route_handle, "worker_handle": order.worker_handle,
            "sequence": order.route_sequence}


def record_moves(session: Session, inputs: RunInputs, replan: str) -> None:
    """Say on each re-planned order's timeline what changed and why (``order_replanned``).

    For every open order of a route the re-plan included whose worker, route or place in
    the sequence changed: where it was, where it is now, and why (the re-plan's mode, or
    the reason it is no longer planned).
    """
    for before in inputs.pool:
        if before.route_handle is None:
            continue  # not on a route before: its planning events say what happened
        order = session.get(Order, (before.account_id, before.id))
        if order is None:
            continue
        was, now = _place(before), _place(order)
        if was == now:
            continue
        if order.route_handle is None:
            change, why = "unplanned", order.planning_failure_reason
        elif order.worker_handle != before.worker_handle:
            change = "moved"
            why = (f"Re-plan of the rest of the day ({replan}): worker {order.worker_handle} "
                   f"takes it instead of {before.worker_handle}")
        else:
            change = "resequenced"
            why = f"Re-plan of the rest of the day ({replan}): new order of the route's stops"
        add_timeline(session, order, REPLANNED, plan_id=inputs.plan_id, replan=replan,
                     change=change, reason=why, previous=was, current=now)


def _count_run(solution: Solution | None, reasons: dict[str, str], failure: str | None,
               solve_s: float) -> None:
    # Counted once the run's transaction committed, so a lost lease counts nothing.
    metrics.PLANS.labels("failed" if failure else "completed").inc()
    metrics.PLAN_SECONDS.observe(solve_s)
    planned = sum(len(route.job_ids) for route in solution.routes) if solution else 0
    metrics.PLAN_ORDERS.labels("planned").inc(planned)
    metrics.PLAN_ORDERS.labels("unplanned").inc(len(reasons))
