"""Turn a day's orders and workers into the optimizer's frozen Problem (integer units)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from routekeeper.core.timefmt import parse_ts
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.worker import Worker
from routekeeper.planning.availability import Shift
from routekeeper.planning.openings import ALL_DAY, CLOSED, Opening
from routekeeper.planning.optimizer import (
    MAX_TIME_S,
    UNLIMITED_CAPACITY,
    UNREACHABLE_BEFORE_LATE,
    Break,
    Job,
    Objective,
    Priority,
    Problem,
    Vehicle,
)
from routekeeper.planning.optimizer.reasons import PLACE_CLOSED
from routekeeper.travel.base import LonLat, TravelMatrix, TravelModel
from routekeeper.workers.radius import outside_radius


@dataclass(frozen=True)
class WorkerSlot:
    """A worker who can take orders in this run: when, from where, and what is settled."""

    worker: Worker
    shift: Shift
    start: LonLat
    # Earliest time new work can begin (after the shift starts, and not in the past).
    ready_at: datetime
    # The route this worker already has in the plan (kept and extended), if any.
    route_handle: str | None = None
    # Orders fixed first on the route (the stop under way, driven to from ``start``).
    fixed: tuple[Order, ...] = ()


@dataclass(frozen=True)
class BuiltProblem:
    """The Problem and how to map its ids back to rows."""

    problem: Problem
    reference_at: datetime
    orders: dict[str, Order] = field(default_factory=dict)
    slots: dict[str, WorkerSlot] = field(default_factory=dict)
    # Orders left out because no worker can reach them by road, with their reason.
    unreachable: dict[str, str] = field(default_factory=dict)


def _seconds(instant: datetime | None, reference: datetime, default: int) -> int:
    if instant is None:
        return default
    return max(0, int((instant - reference).total_seconds()))


def _windows(order: Order, reference: datetime) -> tuple[tuple[int, int], ...]:
    """An order's alternative windows in seconds from ``reference`` (empty: the single one)."""
    return tuple(
        (_seconds(parse_ts(w["after"]), reference, 0),
         _seconds(parse_ts(w["before"]), reference, 0))
        for w in order.time_windows or []
    )


def _breaks(slot: WorkerSlot, reference: datetime) -> tuple[Break, ...]:
    """The worker's breaks on this shift, in seconds from ``reference``."""
    return tuple(
        Break(id=f"break-{number}", early_s=_seconds(rest.after_at, reference, 0),
              late_s=_seconds(rest.before_at, reference, 0), duration_s=rest.duration_s)
        for number, rest in enumerate(slot.shift.breaks, start=1)
    )


def home_point(group: OpsGroup) -> LonLat | None:
    """The ops group home (the depot workers reload at), if it has one."""
    home = group.ops_group_home or {}
    coordinates = (home.get("geometry") or {}).get("coordinates")
    return (float(coordinates[0]), float(coordinates[1])) if coordinates else None


def _capacity(worker: Worker, group: OpsGroup) -> int:
    # route_capacity caps the sum of capacity_used on a route (with the default
    # capacity_used of 1, that is a number of orders); a worker's own capacity caps it too.
    limits = [c for c in (worker.capacity, group.route_capacity) if c is not None]
    return min(limits) if limits else UNLIMITED_CAPACITY


def build_problem(
    *,
    group: OpsGroup,
    slots: Sequence[WorkerSlot],
    orders: Sequence[Order],
    reference_at: datetime,
    travel: TravelModel,
    openings: Mapping[str, Opening] | None = None,
    keep: Mapping[str, str] | None = None,
) -> BuiltProblem:
    """Build the Problem: vehicle starts first, then one location per order, then the depot
    workers reload at (when the ops group allows reloads).

    ``openings``: by order id, when the order's place takes visits that day (see
    :mod:`routekeeper.planning.openings`); the order's window (each of its time windows) is
    narrowed to it, and an order at a place closed that day (or open only outside the order's
    windows) is reported unplanned instead of being handed to the solver.
    """
    # Workers starting at one place (the depot, homes at one address) share its location:
    # fewer matrix cells to fetch, and one place for the optimizer rather than one per worker.
    points: list[LonLat] = list(dict.fromkeys(slot.start for slot in slots))
    start_of = {point: index for index, point in enumerate(points)}
    starts = [start_of[slot.start] for slot in slots]
    n_starts = len(points)
    jobs, closed = _jobs(group, orders, slots, points, reference_at, openings or {},
                         keep or {})
    reloads = group.reloads or {}
    depot = home_point(group) if reloads else None
    reload_at: tuple[int, ...] = ()
    if depot is not None:
        points.append(depot)
        reload_at = (len(points) - 1,)
    returns = group.route_completion_type == "return_to_start_location"
    vehicles = _vehicles(slots, starts, group, reference_at, reload_at=reload_at,
                         returns=returns)
    # The caller only builds a problem with at least one worker, so points is never empty.
    matrix = travel.matrix(points, points)
    cut_off = _left_out(jobs, matrix, slots, n_starts, closed, returns=returns)
    problem = Problem(
        distance_m=matrix.distance_m,
        duration_s=matrix.duration_s,
        jobs=tuple(j for j in jobs if j.id not in cut_off), vehicles=vehicles,
        objective=Objective(group.objective_fn), locations=tuple(points),
    )
    return BuiltProblem(
        problem=problem, reference_at=reference_at, orders={o.id: o for o in orders},
        slots={slot.worker.worker_handle: slot for slot in slots},
        unreachable={job_id: PLACE_CLOSED if job_id in closed else UNREACHABLE_BEFORE_LATE
                     for job_id in cut_off},
    )


def _jobs(group: OpsGroup, orders: Sequence[Order], slots: Sequence[WorkerSlot],
          points: list[LonLat], reference_at: datetime, openings: Mapping[str, Opening],
          keep: Mapping[str, str]) -> tuple[list[Job], set[str]]:
    """A job per order (the stops under way included), each order's destination appended
    to ``points``; and the orders whose place is closed in their window, or that lie
    outside the group's enforced operations radius (no worker of the group may take them)."""
    closed: set[str] = set()
    jobs: list[Job] = []
    picks = {
        (o.order_handle, o.type_index): o.id for o in orders if o.type == "pick"
    }
    for order in [*orders, *(o for slot in slots for o in slot.fixed)]:
        assert order.destination_lon is not None and order.destination_lat is not None
        points.append((order.destination_lon, order.destination_lat))
        pick_id = picks.get((order.order_handle, order.type_index)) if order.type == "drop" \
            else None
        window = _job_window(order, reference_at, openings.get(order.id, ALL_DAY))
        if window.closed or outside_radius(group, points[-1]):
            closed.add(order.id)
        jobs.append(_job(order, len(points) - 1, window, pick_job=pick_id,
                         vehicle=keep.get(order.id)))
    return jobs, closed


@dataclass(frozen=True)
class _JobWindow:
    """An order's window in solver seconds, narrowed to its place's opening that day."""

    early_s: int
    late_s: int
    windows: tuple[tuple[int, int], ...]
    closed: bool


def _job_window(order: Order, reference_at: datetime, opening: Opening) -> _JobWindow:
    """The order's window (and each of its time windows) within ``opening``; ``closed``
    when the place takes no visit inside any of them."""
    closed = False
    early_s = _seconds(order.scheduled_after, reference_at, 0)
    late_s = _seconds(order.scheduled_at, reference_at, MAX_TIME_S)
    if opening == CLOSED:
        closed = True
    elif isinstance(opening, tuple):
        early_s = max(early_s, _seconds(opening[0], reference_at, 0))
        late_s = min(late_s, _seconds(opening[1], reference_at, MAX_TIME_S))
        if late_s < early_s:
            closed = True
            late_s = early_s
    windows = _windows(order, reference_at)
    narrowed = tuple((max(e, early_s), min(late, late_s)) for e, late in windows
                     if max(e, early_s) <= min(late, late_s))
    if windows and not narrowed:
        closed = True
    return _JobWindow(early_s, late_s, narrowed, closed)


def _job(order: Order, location: int, window: _JobWindow, *, pick_job: str | None,
         vehicle: str | None) -> Job:
    """The solver's job for an order at ``location`` (an index into the matrix)."""
    return Job(
        id=order.id, location=location,
        service_s=order.expected_service_time or 0,
        early_s=window.early_s,
        late_s=window.late_s,
        demand=order.capacity_used, skills=frozenset(order.product_type or []),
        priority=Priority(order.priority or "medium"),
        pick_job=pick_job,
        windows=window.windows,
        lateness_cost_per_min=order.lateness_cost_per_minute,
        vehicle=vehicle,
    )


def _vehicles(slots: Sequence[WorkerSlot], starts: Sequence[int], group: OpsGroup,
              reference_at: datetime, *, reload_at: tuple[int, ...],
              returns: bool) -> tuple[Vehicle, ...]:
    """One vehicle a worker slot, starting at the location of its start point (``starts``)."""
    reloads = group.reloads or {}
    return tuple(
        Vehicle(
            id=slot.worker.worker_handle, start_location=starts[index],
            end_location=starts[index] if returns else None,
            start_s=_seconds(slot.ready_at, reference_at, 0),
            end_s=_seconds(slot.shift.end_at, reference_at, MAX_TIME_S),
            capacity=_capacity(slot.worker, group),
            skills=frozenset(slot.worker.product_types or []),
            max_distance_m=group.route_max_distance,
            breaks=_breaks(slot, reference_at),
            reload_locations=reload_at,
            max_reloads=reloads.get("max_reloads"),
            reload_s=int(reloads.get("service_time") or 0),
            fixed_jobs=tuple(o.id for o in slot.fixed),
        )
        for index, slot in enumerate(slots)
    )


def _left_out(jobs: Sequence[Job], matrix: TravelMatrix, slots: Sequence[WorkerSlot],
              n_starts: int, closed: set[str], *, returns: bool) -> set[str]:
    """The jobs not handed to the solver: unreachable ones and those at a closed place
    (``closed`` keeps only the latter, with their pick/drop partners)."""
    # The first n_starts locations are the workers' (distinct) start points.
    cut_off = _unreachable_jobs(jobs, matrix, n_starts, returns=returns)
    for job in jobs:
        # A pick and its drop are planned together or not at all.
        if job.pick_job is not None and (job.id in closed or job.pick_job in closed):
            closed.update((job.id, job.pick_job))
    closed -= cut_off
    cut_off |= closed
    # A stop under way is a fact, whatever the road data or the place's hours say.
    cut_off -= {o.id for slot in slots for o in slot.fixed}
    return cut_off


def _unreachable_jobs(jobs: Sequence[Job], matrix: TravelMatrix, n_starts: int, *,
                      returns: bool) -> set[str]:
    """Jobs no worker can drive to (or back from, on round trips), with their pick/drop partner.

    On real road data some addresses sit in parts of the road graph that the workers' starts
    are not connected to; such an order is reported, not handed to the solver.
    """
    if matrix.unreachable is None:
        return set()
    cut = matrix.unreachable
    out: set[str] = set()
    for job in jobs:
        there = cut[:n_starts, job.location]
        back = cut[job.location, :n_starts] if returns else np.zeros(n_starts, dtype=bool)
        if bool((there | back).all()):
            out.add(job.id)
    # A pick and its drop are planned together or not at all.
    for job in jobs:
        if job.pick_job is not None and (job.id in out or job.pick_job in out):
            out.update((job.id, job.pick_job))
    return out
