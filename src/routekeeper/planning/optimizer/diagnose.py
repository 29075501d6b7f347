"""Why a job is unassigned: test the real causes, one after another, on the job alone.

A pick/drop pair is tested as one unit (the pick, then the drop) because neither can be served
without the other. Each test narrows the set of candidate vehicles; the reason returned is the
first test that leaves none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from routekeeper.planning.optimizer import reasons
from routekeeper.planning.optimizer.model import Job, Problem, Vehicle
from routekeeper.planning.optimizer.schedule import simulate
from routekeeper.planning.optimizer.warm import Availability, availability


def serving_unit(problem: Problem, job_id: str) -> tuple[list[int], str | None]:
    """The jobs that must be planned together with this one, and the only vehicle that may.

    The unit leaves out jobs already fixed; when the pick of a pair is fixed on a vehicle, the
    drop can only go on that vehicle, and a job that names its ``vehicle`` only on that one.
    """
    job = problem.job(job_id)
    partner = problem.partner_of(job_id)
    if partner is None:
        members = [job_id]
    else:
        pick_id = job.pick_job if job.pick_job is not None else job_id
        members = [pick_id, problem.drop_of(pick_id) or job_id]
    bound = next((v for m in members if (v := problem.fixed_vehicle(m)) is not None), None)
    if bound is None:
        bound = next((v for m in members if (v := problem.job(m).vehicle) is not None), None)
    unfixed = [problem.job_index(m) for m in members if problem.fixed_vehicle(m) is None]
    return unfixed, bound


def unit_demand(problem: Problem, unit: list[int]) -> int:
    """Load the unit puts on a vehicle: the pick's demand for a pair, else the job's demand."""
    first = problem.jobs[unit[0]]
    if first.pick_job is not None:
        return problem.job(first.pick_job).demand
    return first.demand


def free_vehicle(state: Availability) -> Vehicle:
    """The vehicle as it stands after its fixed prefix, ready to take new jobs."""
    return replace(
        state.vehicle, start_location=state.location, start_s=state.ready_s, fixed_jobs=()
    )


def _overlaps(job: Job, vehicle: Vehicle) -> bool:
    """Whether one of the job's windows (or, for a soft one, the time after it) meets the shift."""
    if job.lateness_cost_per_min is not None and job.opens_s <= vehicle.end_s:
        return True
    return any(early <= vehicle.end_s and late >= vehicle.start_s
               for early, late in job.time_windows)


@dataclass(frozen=True, slots=True)
class Fleet:
    """Vehicles grouped by everything ``diagnose`` looks at, so each group is tested once."""

    groups: tuple[tuple[Availability, frozenset[str]], ...]


def fleet(problem: Problem, states: Sequence[Availability] | None = None) -> Fleet:
    """Group the vehicles (``states`` may pass their availability, in vehicle order)."""
    if states is None:
        states = [availability(problem, vehicle) for vehicle in problem.vehicles]
    groups: dict[tuple[object, ...], tuple[Availability, set[str]]] = {}
    for state in states:
        vehicle = state.vehicle
        key = (
            vehicle.skills,
            vehicle.start_s,
            vehicle.end_s,
            vehicle.end_location,
            state.location,
            state.ready_s,
            state.capacity_left,
            state.distance_left_m,
            vehicle.breaks,
        )
        groups.setdefault(key, (state, set()))[1].add(vehicle.id)
    return Fleet(tuple((state, frozenset(ids)) for state, ids in groups.values()))


def diagnose(problem: Problem, job_id: str, vehicles: Fleet | None = None) -> str:
    """The HyperTrack reason why this job is (or would be) left unassigned.

    ``vehicles`` may pass ``fleet(problem)`` when the caller diagnoses many jobs.
    """
    if not problem.vehicles:
        return reasons.NO_WORKER
    unit, bound = serving_unit(problem, job_id)
    if not unit:
        return reasons.DROPPED_FOR_PLAN
    groups = (vehicles or fleet(problem)).groups
    jobs = [problem.jobs[i] for i in unit]
    states, reason = _able(problem, unit, jobs, groups, bound)
    if reason is not None:
        return reason
    return _timed_reason(problem, unit, jobs, states)


def _able(problem: Problem, unit: list[int], jobs: list[Job],
          groups: tuple[tuple[Availability, frozenset[str]], ...],
          bound: str | None) -> tuple[list[Availability], str | None]:
    """The vehicle states with the skills, the hours and the capacity the unit needs; or
    the reason none has them."""
    skills = frozenset().union(*(job.skills for job in jobs))
    states = [
        state
        for state, ids in groups
        if (bound is None or bound in ids) and skills <= state.vehicle.skills
    ]
    if not states:
        return states, reasons.NO_SKILLED_WORKER
    states = [s for s in states if all(_overlaps(job, s.vehicle) for job in jobs)]
    if not states:
        return states, reasons.NO_SCHEDULE_OVERLAP
    demand = unit_demand(problem, unit)
    states = [s for s in states if demand <= s.capacity_left]
    if not states:
        return states, reasons.EXCEEDS_CAPACITY
    return states, None


def _timed_reason(problem: Problem, unit: list[int], jobs: list[Job],
                  states: list[Availability]) -> str:
    """Why vehicles able to take the unit still cannot serve it in time, within the day or
    within their distance; ``dropped_for_plan`` when one could."""
    timed = [(s, simulate(problem, free_vehicle(s), unit, s.ready_s)) for s in states]
    timed = [
        (s, t)
        for s, t in timed
        if all(stop.start_s <= job.hard_late_s
               for stop, job in zip(t.job_stops, jobs, strict=True))
    ]
    if not timed:
        return reasons.UNREACHABLE_BEFORE_LATE
    # Breaks count here too: a job that leaves no room for the worker's break overruns the day.
    timed = [(s, t) for s, t in timed if t.end_s <= s.vehicle.end_s and t.violations == 0]
    if not timed:
        return reasons.EXCEEDS_SHIFT_END
    if not any(s.distance_left_m is None or t.distance_m <= s.distance_left_m for s, t in timed):
        return reasons.EXCEEDS_MAX_DISTANCE
    return reasons.DROPPED_FOR_PLAN
