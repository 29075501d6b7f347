"""Choosing the order of stops: cheapest feasible insertion, and solver optimisation.

"Cheapest" is the shortest total distance, as HyperTrack's ``optimise`` promises ("minimise
total travel distance"); "feasible" means every stop is reached by its ``scheduled_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from routekeeper.planning.optimizer import MAX_TIME_S, Job, Objective, Problem, Vehicle, solve
from routekeeper.routes.estimates import RouteEstimate, StopInput, estimate_route
from routekeeper.travel.base import LonLat, TravelModel


def meets_deadlines(estimate: RouteEstimate, stops: Sequence[StopInput]) -> bool:
    """Whether every stop is reached by its ``scheduled_at``."""
    return all(
        stop.scheduled_at is None or est.arrive_at <= stop.scheduled_at
        for stop, est in zip(stops, estimate.stops, strict=True)
    )


def insert_cheapest(
    stops: list[StopInput],
    new: StopInput,
    *,
    first_free: int,
    start: LonLat | None,
    depart_at: datetime,
    travel: TravelModel,
    return_to_start: bool,
) -> list[StopInput]:
    """Insert ``new`` at the cheapest position (at or after ``first_free``) that keeps every
    deadline; when none does, append it (the route then shows the delay instead of losing
    the order). Ties go to the earliest position."""
    best: tuple[int, list[StopInput]] | None = None
    for position in range(max(0, min(first_free, len(stops))), len(stops) + 1):
        candidate = [*stops[:position], new, *stops[position:]]
        estimate = estimate_route(start=start, stops=candidate, depart_at=depart_at,
                                  travel=travel, return_to_start=return_to_start)
        if meets_deadlines(estimate, candidate) and (
            best is None or estimate.distance_m < best[0]
        ):
            best = (estimate.distance_m, candidate)
    return best[1] if best is not None else [*stops, new]


def _problem(
    stops: Sequence[StopInput], start: LonLat | None, depart_at: datetime, travel: TravelModel,
    *, windows: bool, return_to_start: bool,
) -> Problem:
    """The one-vehicle problem over ``stops``; location 0 is the start."""
    points = [s.location for s in stops]
    inner = travel.matrix(points, points)
    size = len(points) + 1
    distance = np.zeros((size, size), dtype=np.int64)
    duration = np.zeros((size, size), dtype=np.int64)
    distance[1:, 1:] = inner.distance_m
    duration[1:, 1:] = inner.duration_s
    if start is not None:
        outbound, inbound = travel.matrix([start], points), travel.matrix(points, [start])
        distance[0, 1:], duration[0, 1:] = outbound.distance_m[0], outbound.duration_s[0]
        distance[1:, 0], duration[1:, 0] = inbound.distance_m[:, 0], inbound.duration_s[:, 0]
    # Without a known start, location 0 is a free virtual depot (zero to and from every
    # stop), so the solver may begin at whichever stop gives the shortest tour.

    def offset(value: datetime | None, default: int) -> int:
        """Seconds from the departure (windows ignored when ``windows`` is false)."""
        if value is None or not windows:
            return default
        return max(0, int((value - depart_at).total_seconds()))

    jobs = tuple(
        Job(id=stop.key, location=index + 1, service_s=stop.service_s,
            early_s=offset(stop.scheduled_after, 0),
            late_s=offset(stop.scheduled_at, MAX_TIME_S))
        for index, stop in enumerate(stops)
    )
    vehicle = Vehicle(id="route", start_location=0,
                      end_location=0 if return_to_start and start is not None else None)
    return Problem(distance_m=distance, duration_s=duration, jobs=jobs, vehicles=(vehicle,),
                   objective=Objective.MINIMISE_DISTANCE)


def optimise_order(
    stops: Sequence[StopInput],
    *,
    start: LonLat | None,
    depart_at: datetime,
    travel: TravelModel,
    return_to_start: bool,
    time_budget_s: float,
    seed: int,
) -> list[StopInput]:
    """The shortest sequence that keeps every time window; when no sequence can, the
    shortest tour ignoring windows (the route then carries delay risks, not lost orders)."""
    if len(stops) < 2:
        return list(stops)
    by_key = {stop.key: stop for stop in stops}
    for windows in (True, False):
        problem = _problem(stops, start, depart_at, travel, windows=windows,
                           return_to_start=return_to_start)
        solution = solve(problem, time_budget_s=time_budget_s, seed=seed)
        if not solution.unassigned and len(solution.routes) == 1:
            return [by_key[key] for key in solution.routes[0].job_ids]
    return list(stops)


def departure(
    stops: Sequence[StopInput], *, scheduled_start_at: datetime | None, now: datetime,
    first_leg_s: int,
) -> datetime:
    """When the worker is expected to leave: the scheduled start, else now, else just in
    time for the first stop's window when that opens later."""
    if scheduled_start_at is not None:
        return scheduled_start_at
    if stops and stops[0].scheduled_after is not None:
        just_in_time = stops[0].scheduled_after - timedelta(seconds=first_leg_s)
        return max(now, just_in_time)
    return now
