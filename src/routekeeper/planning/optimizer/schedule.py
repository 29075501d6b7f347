"""Timing a route: when each stop is reached, served and left, and how far the route has run.

The same arithmetic serves the solver (to report times), ``check`` (to verify them) and
``diagnose`` (to test a job alone), so that the three can never disagree.

A route is a sequence of *visits*: a job index (>= 0), or a reload at the vehicle's
``reload_locations[k]``, written ``reload_visit(k)`` (a negative number), so that routes stay
plain integer sequences wherever they travel (search results, repair, prefixes).

Breaks are not visits: ``simulate`` places each of the vehicle's breaks where it fits best
(at the start, on arrival at a stop before its service, or after the last service), taking
them in order of their windows; a break whose window opens only after the route is over is
not needed (the worker's day is done).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routekeeper.planning.optimizer.model import Break, Job, Problem, Route, Stop, StopKind, Vehicle


def reload_visit(slot: int) -> int:
    """The visit that reloads at the vehicle's ``reload_locations[slot]``."""
    return -1 - slot


def reload_slot(visit: int) -> int:
    """Which of the vehicle's reload locations a (negative) reload visit uses."""
    return -1 - visit


def service_start(job: Job, ready_s: int) -> int:
    """When service starts for a worker ready at ``ready_s``: in the first window still open.

    After the last window closes it starts at once (late: a cost for a soft window, a
    violation for a hard one). The result never decreases as ``ready_s`` grows, so arriving
    earlier never makes anything later.
    """
    for early, late in job.time_windows:
        if ready_s <= late:
            return max(ready_s, early)
    return ready_s


def window_close(job: Job, start_s: int) -> int:
    """The close of the window a service start lies in (the last close when it is late)."""
    return next((late for _, late in job.time_windows if start_s <= late), job.closes_s)


def lateness_cost(job: Job, lateness_s: int) -> int:
    """The cost of starting ``lateness_s`` late, in objective units (per started minute)."""
    if lateness_s <= 0 or not job.lateness_cost_per_min:
        return 0
    return -(-lateness_s * job.lateness_cost_per_min // 60)


@dataclass(frozen=True, slots=True)
class Timeline:
    """Times of a route driven from ``start_s`` with service starting as early as allowed.

    ``violations`` counts hard windows missed, breaks out of their window and a finish after
    the shift; ``lateness_cost`` prices the lateness at soft windows.
    """

    stops: tuple[Stop, ...]
    start_s: int
    end_s: int
    distance_m: int
    violations: int = 0
    lateness_cost: int = 0

    @property
    def duration_s(self) -> int:
        """Time from leaving the start to finishing the route."""
        return self.end_s - self.start_s

    @property
    def job_stops(self) -> tuple[Stop, ...]:
        """The stops that serve jobs, in order."""
        return tuple(stop for stop in self.stops if stop.kind is StopKind.JOB)

    @property
    def score(self) -> tuple[int, int, int]:
        """How good the timing is, smaller first: violations, lateness cost, finish."""
        return (self.violations, self.lateness_cost, self.end_s)


def _drive(
    problem: Problem,
    vehicle: Vehicle,
    visits: Sequence[int],
    start_s: int,
    breaks_at: dict[int, list[Break]],
) -> Timeline:
    """Drive the visits, taking ``breaks_at[d]`` at decision point ``d``.

    Point 0 is the start before leaving, point ``i + 1`` the arrival at visit ``i`` before its
    service, point ``len(visits) + 1`` after the last service (before the drive to the end).
    """
    distance = problem.distance_m
    duration = problem.duration_s
    here = vehicle.start_location
    clock_s = start_s
    travelled_m = 0
    violations = 0
    late_cost = 0
    stops: list[Stop] = []

    def pause(point: int) -> None:
        nonlocal clock_s, violations
        for rest in breaks_at.get(point, ()):
            begin_s = max(clock_s, rest.early_s)
            stops.append(Stop(job_id=rest.id, location=here, arrival_s=clock_s, start_s=begin_s,
                              departure_s=begin_s + rest.duration_s, distance_m=travelled_m,
                              duration_s=clock_s - start_s, kind=StopKind.BREAK))
            clock_s = begin_s + rest.duration_s
            violations += clock_s > rest.late_s

    pause(0)
    for position, visit in enumerate(visits, start=1):
        if visit < 0:
            slot = reload_slot(visit)
            where = vehicle.reload_locations[slot] if slot < len(vehicle.reload_locations) else here
        else:
            where = problem.jobs[visit].location
        clock_s += int(duration[here, where])
        travelled_m += int(distance[here, where])
        here = where
        pause(position)
        arrival_s = clock_s
        if visit < 0:
            clock_s += vehicle.reload_s
            stops.append(Stop(job_id="", location=where, arrival_s=arrival_s, start_s=arrival_s,
                              departure_s=clock_s, distance_m=travelled_m,
                              duration_s=arrival_s - start_s, kind=StopKind.RELOAD))
            continue
        job = problem.jobs[visit]
        begin_s = service_start(job, arrival_s)
        late_s = max(0, begin_s - job.closes_s)
        violations += begin_s > job.hard_late_s
        late_cost += lateness_cost(job, late_s)
        clock_s = begin_s + job.service_s
        stops.append(Stop(job_id=job.id, location=where, arrival_s=arrival_s, start_s=begin_s,
                          departure_s=clock_s, distance_m=travelled_m,
                          duration_s=arrival_s - start_s, lateness_s=late_s))
    pause(len(visits) + 1)
    if vehicle.end_location is not None:
        clock_s += int(duration[here, vehicle.end_location])
        travelled_m += int(distance[here, vehicle.end_location])
    violations += clock_s > vehicle.end_s
    return Timeline(stops=tuple(stops), start_s=start_s, end_s=clock_s, distance_m=travelled_m,
                    violations=violations, lateness_cost=late_cost)


def simulate(
    problem: Problem, vehicle: Vehicle, job_indices: Sequence[int], start_s: int
) -> Timeline:
    """Drive the visits in order from the vehicle's start, leaving at ``start_s``.

    Service starts in the first window still open on arrival; lateness is not clamped so that
    callers can see it. Without an end location the route ends when the last service (or
    break) ends. Each break goes to the point where the route's ``score`` is best, earliest
    point on ties.
    """
    breaks_at: dict[int, list[Break]] = {}
    timeline = _drive(problem, vehicle, job_indices, start_s, breaks_at)
    for rest in sorted(vehicle.breaks, key=lambda b: (b.early_s, b.late_s, b.id)):
        if timeline.end_s <= rest.early_s:
            break  # the day is over before this break (and every later one) could begin
        best: tuple[tuple[int, int, int], int, Timeline] | None = None
        for point in range(len(job_indices) + 2):
            trial = {**breaks_at, point: [*breaks_at.get(point, []), rest]}
            option = _drive(problem, vehicle, job_indices, start_s, trial)
            if best is None or (option.score, point) < (best[0], best[1]):
                best = (option.score, point, option)
        assert best is not None
        breaks_at.setdefault(best[1], []).append(rest)
        timeline = best[2]
    return timeline


def latest_useful_start(problem: Problem, timeline: Timeline) -> int:
    """The latest departure that keeps every window and the end time, cutting waiting first.

    Delaying the departure by ``d`` delays stop ``i`` by ``max(0, d - waiting up to i)``; we
    delay by at most the total waiting so that the route does not finish later. Breaks and
    reloads wait for nothing and bound nothing here; ``plan_route`` re-times the route and
    keeps the delay only when it is no worse.
    """
    waited_s = 0
    delay_s = None
    for stop in timeline.job_stops:
        job = problem.job(stop.job_id)
        waited_s += stop.start_s - stop.arrival_s
        room_s = waited_s + window_close(job, stop.start_s) - stop.start_s
        delay_s = room_s if delay_s is None else min(delay_s, room_s)
    if delay_s is None:
        return timeline.start_s
    return timeline.start_s + max(0, min(delay_s, waited_s))


def route_of(vehicle: Vehicle, timeline: Timeline) -> Route:
    """The solution route for a timeline."""
    return Route(
        vehicle_id=vehicle.id,
        stops=timeline.stops,
        start_s=timeline.start_s,
        end_s=timeline.end_s,
        distance_m=timeline.distance_m,
        duration_s=timeline.duration_s,
    )


def plan_route(problem: Problem, vehicle: Vehicle, job_indices: Sequence[int]) -> Route:
    """Time a route from shift start, leaving later when that only removes waiting.

    A route with a fixed prefix is already under way, so it leaves at shift start.
    """
    timeline = simulate(problem, vehicle, job_indices, vehicle.start_s)
    if not vehicle.fixed_jobs:
        start_s = latest_useful_start(problem, timeline)
        if start_s != timeline.start_s:
            later = simulate(problem, vehicle, job_indices, start_s)
            if later.score <= timeline.score:
                timeline = later
    return route_of(vehicle, timeline)

