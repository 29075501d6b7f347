"""Warm start: what is left of a vehicle once its fixed prefix (jobs done or under way) is driven.

The solver plans only the part after the prefix, so each vehicle is replaced by its state at
the end of the prefix: where it is, from when it is free, how much distance and capacity
remain, and which drops it must still make because their picks are in its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from routekeeper.planning.optimizer.check import load_profile
from routekeeper.planning.optimizer.model import Problem, Vehicle
from routekeeper.planning.optimizer.schedule import simulate


@dataclass(frozen=True, slots=True)
class Availability:
    """A vehicle as seen by the planner of new jobs, after its fixed prefix."""

    vehicle: Vehicle
    prefix: tuple[int, ...]
    location: int
    ready_s: int
    capacity_left: int
    distance_left_m: int | None
    # Drops (job indices) whose pick is in the prefix but which are not fixed themselves.
    open_drops: tuple[int, ...]

    @property
    def usable(self) -> bool:
        """Whether any new job could still be added to this vehicle."""
        if self.ready_s > self.vehicle.end_s or self.capacity_left < 0:
            return False
        return self.distance_left_m is None or self.distance_left_m >= 0


def availability(problem: Problem, vehicle: Vehicle) -> Availability:
    """Drive the fixed prefix from shift start and describe what remains.

    Capacity: along the prefix the load is at most ``peak``; at its end the open pairs weigh
    ``open_load``. New deliveries ride the whole prefix, so they get ``capacity - peak``; the
    planner sees the open drops as deliveries too, hence ``capacity - (peak - open_load)``.
    This is exact at the end of the prefix and conservative (never too generous) after it.
    """
    prefix = tuple(problem.job_index(job_id) for job_id in vehicle.fixed_jobs)
    if not prefix:
        return Availability(
            vehicle=vehicle,
            prefix=(),
            location=vehicle.start_location,
            ready_s=vehicle.start_s,
            capacity_left=vehicle.capacity,
            distance_left_m=vehicle.max_distance_m,
            open_drops=(),
        )
    # The prefix is timed without an end location: the return leg belongs to the new part.
    open_end = Vehicle(id=vehicle.id, start_location=vehicle.start_location)
    timeline = simulate(problem, open_end, prefix, vehicle.start_s)
    fixed = set(vehicle.fixed_jobs)
    open_drops = tuple(
        problem.job_index(drop)
        for job_id in vehicle.fixed_jobs
        if (drop := problem.drop_of(job_id)) is not None and drop not in fixed
    )
    loads = load_profile(problem, prefix)
    reserve = max(loads) - loads[-1]
    distance_left = vehicle.max_distance_m
    if distance_left is not None:
        distance_left -= timeline.distance_m
    return Availability(
        vehicle=vehicle,
        prefix=prefix,
        location=problem.jobs[prefix[-1]].location,
        ready_s=timeline.end_s,
        capacity_left=vehicle.capacity - reserve,
        distance_left_m=distance_left,
        open_drops=open_drops,
    )
