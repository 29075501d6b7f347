"""``solve``: plan the day's jobs into routes with PyVRP, verify them, and explain what is left."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pyvrp import ActivityType

from routekeeper.planning.optimizer import reasons
from routekeeper.planning.optimizer.check import check, route_violations
from routekeeper.planning.optimizer.diagnose import Fleet, diagnose, fleet, serving_unit
from routekeeper.planning.optimizer.model import Objective, Problem, Route, Solution
from routekeeper.planning.optimizer.schedule import plan_route, reload_visit, simulate
from routekeeper.planning.optimizer.search import Candidate, idle_cores, limits_for, search
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
            if kind == ActivityType.DEPOT.value:
                source = translation.reload_depots[idx]
                jobs.append(reload_visit(vehicle.reload_locations.index(source)))
            elif kind == ActivityType.CLIENT.value:
                jobs.append(translation.client_jobs[idx])
            elif kind == ActivityType.PICKUP.value:
                jobs.append(translation.shipment_jobs[idx][0])
            elif kind == ActivityType.DELIVERY.value:
                jobs.append(translation.shipment_jobs[idx][1])
        planned[vehicle.id] = jobs
    return planned


def _repair(problem: Problem, state: Availability, new_jobs: list[int]) -> list[int]:
    """The route, or the longest feasible subsequence found greedily when it breaks a rule.

    Jobs are appended one by one and kept only if the route so far stays valid (reloads are
    kept where they were, then those left with nothing to do are removed); a pick whose drop
    did not survive is removed and the pass repeated.
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
            if index < 0:
                kept.append(index)
                continue
            pick = problem.jobs[index].pick_job
            # A drop whose pick was not kept cannot be served either.
            if pick is not None and problem.fixed_vehicle(pick) is None and (
                problem.job_index(pick) not in kept
            ):
                continue
            trial = [*state.prefix, *kept, index]
            if not route_violations(problem, vehicle, trial, vehicle.start_s):
                kept.append(index)
        kept = _useful_reloads(kept)
        if _pairs_closed(problem, state, kept):
            return kept
        candidates = [i for i in kept if i < 0 or _drop_kept(problem, i, kept)]


def _useful_reloads(visits: list[int]) -> list[int]:
    """The visits without reloads that start the route, end it or follow another reload.

    Removing such a reload never adds load, time or distance to a route.
    """
    result: list[int] = []
    for visit in visits:
        if visit < 0 and (not result or result[-1] < 0):
            continue
        result.append(visit)
    while result and result[-1] < 0:
        result.pop()
    return result


def _drop_kept(problem: Problem, index: int, kept: list[int]) -> bool:
    """False for a pick whose drop is not in ``kept`` (reloads are never picks)."""
    if index < 0:
        return True
    drop = problem.drop_of(problem.jobs[index].id)
    return drop is None or problem.job_index(drop) in kept


def _pairs_closed(problem: Problem, state: Availability, new_jobs: list[int]) -> bool:
    """Every new pick has its drop on the route."""
    return all(_drop_kept(problem, i, new_jobs) for i in new_jobs)


def _cost(problem: Problem, state: Availability, visits: list[int]) -> int | None:
    """The objective's cost of a route, or None when it breaks a rule."""
    vehicle = state.vehicle
    if route_violations(problem, vehicle, visits, vehicle.start_s):
        return None
    timeline = simulate(problem, vehicle, visits, vehicle.start_s)
    if problem.objective is Objective.MINIMISE_DISTANCE:
        return timeline.distance_m + timeline.lateness_cost
    return timeline.duration_s + timeline.lateness_cost


def _reinsert(
    problem: Problem, states: Sequence[Availability], routes: dict[int, list[int]],
    dropped: list[int],
) -> None:
    """Put jobs the repair took out back where they fit most cheaply (routes change in place).

    The search does not see breaks, so a route can lose a job to its break; another route,
    or another place on the same one, may still have room for it. Pairs are left out.
    """
    for index in dropped:
        best: tuple[int, int, int] | None = None
        for number, state in enumerate(states):
            new_jobs = routes[number]
            base = _cost(problem, state, [*state.prefix, *new_jobs])
            if base is None:
                continue
            for position in range(len(new_jobs) + 1):
                trial = [*state.prefix, *new_jobs[:position], index, *new_jobs[position:]]
                cost = _cost(problem, state, trial)
                if cost is not None and (best is None or cost - base < best[0]):
                    best = (cost - base, number, position)
        if best is not None:
            routes[best[1]].insert(best[2], index)


def _finish(
    problem: Problem,
    states: Sequence[Availability],
    vehicles: Fleet,
    planned: dict[str, list[int]],
    unassigned: dict[str, str],
) -> Solution:
    """Time the routes, repair any that break a rule, and give every unserved job its reason."""
    routes: dict[int, list[int]] = {}
    dropped: list[int] = []
    for number, state in enumerate(states):
        wanted = planned.get(state.vehicle.id, [])
        routes[number] = _repair(problem, state, wanted)
        dropped += sorted(set(wanted) - set(routes[number]) - {i for i in wanted if i < 0})
    singles = [i for i in dropped if problem.partner_of(problem.jobs[i].id) is None]
    if singles:
        _reinsert(problem, states, routes, singles)
    solved: list[Route] = []
    served: set[str] = set()
    for number, state in enumerate(states):
        jobs = [*state.prefix, *routes[number]]
        if not any(i >= 0 for i in jobs):
            continue
        solved.append(plan_route(problem, state.vehicle, jobs))
        served.update(problem.jobs[i].id for i in jobs if i >= 0)
    for job in problem.jobs:
        if job.id not in served and job.id not in unassigned:
            unassigned[job.id] = diagnose(problem, job.id, vehicles)
    return Solution(routes=tuple(solved), unassigned=dict(sorted(unassigned.items())))


def solve(problem: Problem, *, time_budget_s: float, seed: int, processes: int = 1) -> Solution:
    """Plan the problem's jobs into routes within the time budget; never returns a broken route.

    Deterministic for a given seed with ``processes=1`` whenever an iteration limit, not the
    clock, ends the search (always so for small problems). With ``processes > 1``, seeds
    ``seed .. seed + processes - 1`` run in parallel processes and the best result is kept;
    ``processes=0`` means one per idle core (see ``idle_cores``), decided when the run starts.
    """
    started = time.perf_counter()
    if processes <= 0:
        processes = idle_cores()
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
