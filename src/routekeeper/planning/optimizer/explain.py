"""What bound a planned route: what set its start, and what kept it from taking more.

* **Start**: a route under way leaves when its fixed prefix ends (``under_way``); one that
  leaves at its shift start could not leave earlier (``shift_start``). Otherwise it left later
  to cut waiting, and the stop that stopped the delay names the reason: a stop starting just
  as its window closes (``window_closes``) or one reached just as its window opens, with no
  waiting left (``window_opens``).
* **End**: the route could not take one more of the problem's other jobs when the capacity
  left is below the smallest other demand (``capacity``), the time left before the shift ends
  below the quickest other job (its service plus the shortest drive to it from any place on
  the route: ``shift_end``), or the distance left below the shortest such drive
  (``max_distance``); the first that holds is the reason. With room left in all three it is
  ``plan`` (the other jobs were better served elsewhere), or ``no_more_jobs`` when every job
  is on this route.
"""

from __future__ import annotations

from dataclasses import dataclass

from routekeeper.planning.optimizer.check import load_profile, route_visits
from routekeeper.planning.optimizer.model import Problem, Route
from routekeeper.planning.optimizer.schedule import window_close


@dataclass(frozen=True, slots=True)
class Binding:
    """Why a route starts when it does and ends where it does, with the figures behind it."""

    start_reason: str
    start_job: str | None
    end_reason: str
    peak_load: int
    capacity: int
    finish_s: int
    shift_end_s: int
    distance_m: int
    max_distance_m: int | None


def _start(problem: Problem, route: Route) -> tuple[str, str | None]:
    """Why the route leaves at ``route.start_s``."""
    vehicle = next(v for v in problem.vehicles if v.id == route.vehicle_id)
    if vehicle.fixed_jobs:
        return "under_way", vehicle.fixed_jobs[-1]
    if route.start_s == vehicle.start_s:
        return "shift_start", None
    stops = [stop for stop in route.stops if stop.job_id in route.job_ids]
    for stop in stops:
        if stop.start_s == window_close(problem.job(stop.job_id), stop.start_s):
            return "window_closes", stop.job_id
    for stop in stops:
        job = problem.job(stop.job_id)
        if stop.arrival_s == stop.start_s and any(e == stop.start_s for e, _ in job.time_windows):
            return "window_opens", stop.job_id
    return "shift_start", None


def explain(problem: Problem, route: Route) -> Binding:
    """What bound this route of a solution of ``problem``."""
    vehicle = next(v for v in problem.vehicles if v.id == route.vehicle_id)
    visits = route_visits(problem, vehicle, route)
    peak = max(load_profile(problem, visits))
    mine = set(route.job_ids)
    others = [job for job in problem.jobs if job.id not in mine]
    places = [vehicle.start_location, *(stop.location for stop in route.stops)]
    if not others:
        end = "no_more_jobs"
    elif vehicle.capacity - peak < min(job.demand for job in others):
        end = "capacity"
    elif vehicle.end_s - route.end_s < min(
        job.service_s + int(problem.duration_s[places, job.location].min()) for job in others
    ):
        end = "shift_end"
    elif vehicle.max_distance_m is not None and vehicle.max_distance_m - route.distance_m < min(
        int(problem.distance_m[places, job.location].min()) for job in others
    ):
        end = "max_distance"
    else:
        end = "plan"
    start_reason, start_job = _start(problem, route)
    return Binding(start_reason=start_reason, start_job=start_job, end_reason=end,
                   peak_load=peak, capacity=vehicle.capacity, finish_s=route.end_s,
                   shift_end_s=vehicle.end_s, distance_m=route.distance_m,
                   max_distance_m=vehicle.max_distance_m)
