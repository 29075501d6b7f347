"""``solve``: plan the day's jobs into routes with PyVRP, verify them, and explain what is left."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from pyvrp import ActivityType

from routekeeper.planning.optimizer import reasons
from routekeeper.planning.optimizer.check import check, route_violations
from routekeeper.planning.optimizer.diagnose import Fleet, diagnose, fleet, serving_unit
from routekeeper.planning.optimizer.model import Problem, Route, Solution
from routekeeper.planning.optimizer.schedule import plan_route
from routekeeper.planning.optimizer.search import Candidate, limits_for, search
from routekeeper.planning.optimizer.translate import Translation, Unit, translate
from routekeeper.planning.optimizer.warm import Availability, availability


def _units(
    problem: Problem,
    vehicles: Fleet,
    states: Sequence[Availability],
    unassigned: dict[str, str],
) -> list[Unit]:
    """Jobs worth planning, grouped into units; the others get their reason in ``unassigned``.

    ``states`` are the usable vehicles, in the order the translation will use.
    """
    vehicle_number = {s.vehicle.id: n for n, s in enumerate(states)}
    units: list[Unit] = []
    seen: set[int] = set()
    for job in problem.jobs:
        if problem.fixed_vehicle(job.id) is not None or job.id in unassigned:
            continue
        reason = diagnose(problem, job.id, vehicles)
        members, bound = serving_unit(problem, job.id)
        if reason == reasons.DROPPED_FOR_PLAN and bound is not None and bound not in vehicle_number:
            # Its vehicle can take no new job at all: say why, from the vehicle's view.
            reason = reasons.EXCEEDS_SHIFT_END
        if reason != reasons.DROPPED_FOR_PLAN:
            for member in members:
                unassigned[problem.jobs[member].id] = reason
            continue
        if members[0] in seen:
            continue
        seen.update(members)
        number = None if bound is None else vehicle_number[bound]
        units.append(Unit(jobs=tuple(members), bound_vehicle=number))
    return units


def _routes_from(
    problem: Problem,
    states: Sequence[Availability],
    translation: Translation,
    candidate: Candidate,
) -> dict[str, list[int]]:
    """New jobs (indices) per vehicle id, in visiting order, from a search result."""
    taken = [0] * len(translation.type_vehicles)
    planned: dict[str, list[int]] = {}
    for vehicle_type, visits in candidate.routes:
        members = translation.type_vehicles[vehicle_type]
        vehicle = states[members[taken[vehicle_type]]].vehicle
        taken[vehicle_type] += 1
        jobs: list[int] = []
        for kind, idx in visits:
            if kind == ActivityType.CLIENT.value:
                jobs.append(translation.client_jobs[idx])
            elif kind == ActivityType.PICKUP.value:
                jobs.append(translation.shipment_jobs[idx][0])
            elif kind == ActivityType.DELIVERY.value:
                jobs.append(translation.shipment_jobs[idx][1])
        planned[vehicle.id] = jobs
    return planned


def _repair(problem: Problem, state: Availability, new_jobs: list[int]) -> list[int]:
    """The route, or the longest feasible subsequence found greedily when it breaks a rule.

    Jobs are appended one by one and kept only if the route so far stays valid; a pick whose
    drop did not survive is then removed and the pass repeated.
    """
    vehicle = state.vehicle
    route = [*state.prefix, *new_jobs]
    if not route_violations(problem, vehicle, route, vehicle.start_s) and _pairs_closed(
        problem, state, new_jobs
    ):
        return new_jobs
    candidates = list(new_jobs)
    while True:
        kept: list[int] = []
        for index in candidates:
            pick = problem.jobs[index].pick_job
            # A drop whose pick was not kept cannot be served either.
            if pick is not None and problem.fixed_vehicle(pick) is None and (
                problem.job_index(pick) not in kept
            ):
                continue
            trial = [*state.prefix, *kept, index]
            if not route_violations(problem, vehicle, trial, vehicle.start_s):
                kept.append(index)
        if _pairs_closed(problem, state, kept):
            return kept
        candidates = [i for i in kept if _drop_kept(problem, i, kept)]


def _drop_kept(problem: Problem, index: int, kept: list[int]) -> bool:
    """False for a pick whose drop is not in ``kept``."""
    drop = problem.drop_of(problem.jobs[index].id)
    return drop is None or problem.job_index(drop) in kept


def _pairs_closed(problem: Problem, state: Availability, new_jobs: list[int]) -> bool:
    """Every new pick has its drop on the route."""
    return all(_drop_kept(problem, i, new_jobs) for i in new_jobs)


def _finish(
    problem: Problem,
    states: Sequence[Availability],
    vehicles: Fleet,
    planned: dict[str, list[int]],
    unassigned: dict[str, str],
) -> Solution:
    """Time the routes, repair any that break a rule, and give every unserved job its reason."""
    routes: list[Route] = []
    served: set[str] = set()
    for state in states:
        vehicle = state.vehicle
        new_jobs = _repair(problem, state, planned.get(vehicle.id, []))
        jobs = [*state.prefix, *new_jobs]
        if not jobs:
            continue
        routes.append(plan_route(problem, vehicle, jobs))
        served.update(problem.jobs[i].id for i in jobs)
    for job in problem.jobs:
        if job.id not in served and job.id not in unassigned:
            unassigned[job.id] = diagnose(problem, job.id, vehicles)
    return Solution(routes=tuple(routes), unassigned=dict(sorted(unassigned.items())))


def solve(problem: Problem, *, time_budget_s: float, seed: int, processes: int = 1) -> Solution:
    """Plan the problem's jobs into routes within the time budget; never returns a broken route.

    Deterministic for a given seed with ``processes=1`` whenever an iteration limit, not the
    clock, ends the search (always so for small problems). With ``processes > 1``, seeds
    ``seed .. seed + processes - 1`` run in parallel processes and the best result is kept;
    ``processes=0`` means one per core.
    """
    started = time.perf_counter()
    if processes <= 0:
        processes = os.cpu_count() or 1
    states = [availability(problem, vehicle) for vehicle in problem.vehicles]
    usable = [state for state in states if state.usable]
    unassigned: dict[str, str] = {}
    vehicles = fleet(problem, states)
    units = _units(problem, vehicles, usable, unassigned)
    planned: dict[str, list[int]] = {}
    if units and usable:
        translation = translate(problem, usable, units)
        num_jobs = sum(len(unit.jobs) for unit in units)
        # The budget is wall clock for the whole call: preparation time is spent from it.
        limits = limits_for(num_jobs, time_budget_s - (time.perf_counter() - started))
        candidate = search(translation, seed, processes, limits)
        planned = _routes_from(problem, usable, translation, candidate)
    solution = _finish(problem, states, vehicles, planned, unassigned)
    violations = check(problem, solution)
    if violations:  # a bug in the modelling, not in the input: fail loudly rather than lie
        raise RuntimeError("optimizer produced an invalid plan: " + "; ".join(violations))
    return solution
