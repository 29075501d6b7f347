"""Independent verification of a solution against every constraint of its problem.

Jobs in a vehicle's fixed prefix are facts (done or under way), so their own windows and
skills are not judged, and a route holding nothing but its fixed prefix is accepted as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from routekeeper.planning.optimizer.model import Problem, Route, Solution, StopKind, Vehicle
from routekeeper.planning.optimizer.reasons import ALL_REASONS
from routekeeper.planning.optimizer.schedule import (
    Timeline,
    reload_slot,
    reload_visit,
    simulate,
)


def load_profile(problem: Problem, job_indices: Sequence[int]) -> list[int]:
    """Load on board when leaving the start and after each visit.

    Unpaired jobs are deliveries loaded at the start of their trip (the route's start, or
    the reload before them); a pair carries the pick's demand from the pick to the drop,
    across reloads.
    """
    jobs = problem.jobs
    carried = 0

    def trip_load(first: int) -> int:
        """Deliveries of the trip that begins at visit ``first``."""
        total = 0
        for index in job_indices[first:]:
            if index < 0:
                break
            if problem.partner_of(jobs[index].id) is None:
                total += jobs[index].demand
        return total

    load = trip_load(0)
    loads = [load]
    for position, index in enumerate(job_indices):
        if index < 0:
            load = carried + trip_load(position + 1)
        else:
            job = jobs[index]
            if job.pick_job is not None:
                load -= problem.job(job.pick_job).demand
                carried -= problem.job(job.pick_job).demand
            elif problem.drop_of(job.id) is not None:
                load += job.demand
                carried += job.demand
            else:
                load -= job.demand
        loads.append(load)
    return loads


def route_violations(
    problem: Problem, vehicle: Vehicle, job_indices: Sequence[int], start_s: int
) -> list[str]:
    """Violations of one route's windows, skills, breaks, reloads, shift, capacity and distance.

    ``job_indices`` are visits (reloads as ``reload_visit``). Pairing across routes is left to
    ``check``; within the route, a drop must follow its pick.
    """
    name = f"vehicle {vehicle.id!r}"
    problems: list[str] = []
    fixed = set(vehicle.fixed_jobs)
    timeline = simulate(problem, vehicle, job_indices, start_s)
    if start_s < vehicle.start_s:
        problems.append(f"{name}: leaves at {start_s} before its shift starts at {vehicle.start_s}")
    seen: set[str] = set()
    jobs = [i for i in job_indices if i >= 0]
    for index, stop in zip(jobs, timeline.job_stops, strict=True):
        job = problem.jobs[index]
        seen.add(job.id)
        if job.pick_job is not None and job.pick_job not in seen:
            problems.append(f"{name}: drop {job.id!r} is not preceded by its pick")
        if job.id in fixed:
            continue
        if stop.start_s > job.hard_late_s:
            problems.append(
                f"{name}: job {job.id!r} starts at {stop.start_s}, after its window closes "
                f"at {job.closes_s}"
            )
        if job.vehicle is not None and job.vehicle != vehicle.id:
            problems.append(f"{name}: job {job.id!r} belongs to vehicle {job.vehicle!r}")
        if not job.skills <= vehicle.skills:
            missing = sorted(job.skills - vehicle.skills)
            problems.append(f"{name}: lacks skills {missing} for job {job.id!r}")
    if all(problem.jobs[i].id in fixed for i in jobs):
        return problems
    problems += _day_violations(vehicle, job_indices, timeline)
    if timeline.end_s > vehicle.end_s:
        problems.append(
            f"{name}: finishes at {timeline.end_s}, after its shift ends at {vehicle.end_s}"
        )
    peak = max(load_profile(problem, job_indices))
    if peak > vehicle.capacity:
        problems.append(f"{name}: carries {peak}, above its capacity {vehicle.capacity}")
    if vehicle.max_distance_m is not None and timeline.distance_m > vehicle.max_distance_m:
        problems.append(
            f"{name}: drives {timeline.distance_m} m, above its maximum {vehicle.max_distance_m} m"
        )
    return problems


def _day_violations(vehicle: Vehicle, visits: Sequence[int], timeline: Timeline) -> list[str]:
    """Reloads at the vehicle's own depots, within their number; breaks taken in their windows."""
    name = f"vehicle {vehicle.id!r}"
    problems: list[str] = []
    reloads = [reload_slot(v) for v in visits if v < 0]
    if any(slot >= len(vehicle.reload_locations) for slot in reloads):
        problems.append(f"{name}: reloads where it has no reload depot")
    if vehicle.max_reloads is not None and len(reloads) > vehicle.max_reloads:
        problems.append(f"{name}: reloads {len(reloads)} times, above {vehicle.max_reloads}")
    taken = {stop.job_id: stop for stop in timeline.stops if stop.kind is StopKind.BREAK}
    for rest in vehicle.breaks:
        stop = taken.get(rest.id)
        if stop is None:
            if timeline.end_s > rest.early_s:
                problems.append(f"{name}: break {rest.id!r} is not taken")
        elif stop.start_s < rest.early_s or stop.departure_s > rest.late_s:
            problems.append(f"{name}: break {rest.id!r} does not fit its window")
    return problems


def route_visits(problem: Problem, vehicle: Vehicle, route: Route) -> list[int]:
    """A solution route as visits (job indices, reloads as ``reload_visit``); unknown jobs out."""
    known = {job.id for job in problem.jobs}
    visits: list[int] = []
    for stop in route.stops:
        if stop.kind is StopKind.JOB and stop.job_id in known:
            visits.append(problem.job_index(stop.job_id))
        elif stop.kind is StopKind.RELOAD:
            slots = vehicle.reload_locations
            slot = slots.index(stop.location) if stop.location in slots else len(slots)
            visits.append(reload_visit(slot))
    return visits


def _reported_times(
    problem: Problem, vehicle: Vehicle, route: Route, indices: list[int]
) -> list[str]:
    """Differences between the times and distances a route states and those recomputed."""
    timeline = simulate(problem, vehicle, indices, route.start_s)
    stated = (route.stops, route.end_s, route.distance_m, route.duration_s)
    actual = (timeline.stops, timeline.end_s, timeline.distance_m, timeline.duration_s)
    if stated != actual:
        return [f"vehicle {vehicle.id!r}: stated times or distances do not match the route"]
    return []


def _pairing(problem: Problem, where: dict[str, tuple[str, int]]) -> list[str]:
    """Pick/drop pairs: same route, pick first, and both served unless the pick is fixed."""
    problems: list[str] = []
    for job in problem.jobs:
        if job.pick_job is None:
            continue
        drop_at = where.get(job.id)
        pick_at = where.get(job.pick_job)
        if drop_at is not None:
            if pick_at is None or pick_at[0] != drop_at[0] or pick_at[1] > drop_at[1]:
                problems.append(f"drop {job.id!r} is not after its pick on the same route")
        elif pick_at is not None and problem.fixed_vehicle(job.pick_job) is None:
            problems.append(f"pick {job.pick_job!r} is served but its drop {job.id!r} is not")
    return problems


def _accounting(problem: Problem, solution: Solution) -> list[str]:
    """Each job served once or unassigned with a known reason, each vehicle one route."""
    problems: list[str] = []
    counts = Counter(job_id for route in solution.routes for job_id in route.job_ids)
    used = Counter(route.vehicle_id for route in solution.routes)
    problems += [f"vehicle {vid!r} has {n} routes" for vid, n in used.items() if n > 1]
    for job_id, count in counts.items():
        if count > 1:
            problems.append(f"job {job_id!r} is served {count} times")
        if job_id in solution.unassigned:
            problems.append(f"job {job_id!r} is both served and unassigned")
    for job_id, reason in solution.unassigned.items():
        if reason not in ALL_REASONS:
            problems.append(f"job {job_id!r} is unassigned with an unknown reason {reason!r}")
    known = {job.id for job in problem.jobs}
    unknown = (set(counts) | set(solution.unassigned)) - known
    problems += [f"unknown job {job_id!r}" for job_id in sorted(unknown)]
    missing = known - set(counts) - set(solution.unassigned)
    problems += [f"job {job_id!r} is neither served nor unassigned" for job_id in sorted(missing)]
    return problems


def check(problem: Problem, solution: Solution) -> list[str]:
    """Every constraint the solution breaks, as readable sentences (empty when it is valid)."""
    problems = _accounting(problem, solution)
    vehicles = {vehicle.id: vehicle for vehicle in problem.vehicles}
    where: dict[str, tuple[str, int]] = {}
    for route in solution.routes:
        vehicle = vehicles.get(route.vehicle_id)
        if vehicle is None:
            problems.append(f"unknown vehicle {route.vehicle_id!r}")
            continue
        if route.job_ids[: len(vehicle.fixed_jobs)] != vehicle.fixed_jobs:
            problems.append(f"vehicle {vehicle.id!r}: route does not begin with its fixed jobs")
        indices = route_visits(problem, vehicle, route)
        for position, job_id in enumerate(route.job_ids):
            where.setdefault(job_id, (vehicle.id, position))
        problems += route_violations(problem, vehicle, indices, route.start_s)
        problems += _reported_times(problem, vehicle, route, indices)
    for vehicle in problem.vehicles:
        if vehicle.fixed_jobs and solution.route_of(vehicle.id) is None:
            problems.append(f"vehicle {vehicle.id!r}: fixed jobs are missing from the solution")
    return problems + _pairing(problem, where)
