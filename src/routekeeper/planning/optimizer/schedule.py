"""Timing a route: when each stop is reached, served and left, and how far the route has run.

The same arithmetic serves the solver (to report times), ``check`` (to verify them) and
``diagnose`` (to test a job alone), so that the three can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routekeeper.planning.optimizer.model import Problem, Route, Stop, Vehicle


@dataclass(frozen=True, slots=True)
class Timeline:
    """Times of a route driven from ``start_s`` with service starting as early as allowed."""

    stops: tuple[Stop, ...]
    start_s: int
    end_s: int
    distance_m: int

    @property
    def duration_s(self) -> int:
        """Time from leaving the start to finishing the route."""
        return self.end_s - self.start_s


def simulate(
    problem: Problem, vehicle: Vehicle, job_indices: Sequence[int], start_s: int
) -> Timeline:
    """Drive the jobs in order from the vehicle's start, leaving at ``start_s``.

    Service starts at ``max(arrival, early_s)``; lateness is not clamped so that callers can
    see it. Without an end location the route ends when the last service ends.
    """
    distance = problem.distance_m
    duration = problem.duration_s
    here = vehicle.start_location
    clock_s = start_s
    travelled_m = 0
    stops: list[Stop] = []
    for index in job_indices:
        job = problem.jobs[index]
        arrival_s = clock_s + int(duration[here, job.location])
        travelled_m += int(distance[here, job.location])
        begin_s = max(arrival_s, job.early_s)
        clock_s = begin_s + job.service_s
        stops.append(
            Stop(
                job_id=job.id,
                location=job.location,
                arrival_s=arrival_s,
                start_s=begin_s,
                departure_s=clock_s,
                distance_m=travelled_m,
                duration_s=arrival_s - start_s,
            )
        )
        here = job.location
    if vehicle.end_location is not None:
        clock_s += int(duration[here, vehicle.end_location])
        travelled_m += int(distance[here, vehicle.end_location])
    return Timeline(stops=tuple(stops), start_s=start_s, end_s=clock_s, distance_m=travelled_m)


def latest_useful_start(problem: Problem, timeline: Timeline) -> int:
    """The latest departure that keeps every window and the end time, cutting waiting first.

    Delaying the departure by ``d`` delays stop ``i`` by ``max(0, d - waiting up to i)``; we
    delay by at most the total waiting so that the route does not finish later.
    """
    waited_s = 0
    delay_s = None
    for stop in timeline.stops:
        waited_s += stop.start_s - stop.arrival_s
        room_s = waited_s + problem.job(stop.job_id).late_s - stop.start_s
        delay_s = room_s if delay_s is None else min(delay_s, room_s)
    if delay_s is None:
        return timeline.start_s
    return timeline.start_s + max(0, min(delay_s, waited_s))


def plan_route(problem: Problem, vehicle: Vehicle, job_indices: Sequence[int]) -> Route:
    """Time a route from shift start, leaving later when that only removes waiting.

    A route with a fixed prefix is already under way, so it leaves at shift start.
    """
    timeline = simulate(problem, vehicle, job_indices, vehicle.start_s)
    if not vehicle.fixed_jobs:
        start_s = latest_useful_start(problem, timeline)
        if start_s != timeline.start_s:
            timeline = simulate(problem, vehicle, job_indices, start_s)
    return Route(
        vehicle_id=vehicle.id,
        stops=timeline.stops,
        start_s=timeline.start_s,
        end_s=timeline.end_s,
        distance_m=timeline.distance_m,
        duration_s=timeline.duration_s,
    )
