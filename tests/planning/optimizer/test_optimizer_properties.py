"""Property tests: on random small problems solve() returns valid, complete, repeatable plans."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routekeeper.planning.optimizer import (
    ALL_REASONS,
    Break,
    Job,
    Objective,
    Priority,
    Problem,
    Vehicle,
    check,
    solve,
)

SKILLS = ("a", "b")


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    """A random problem with windows (several, soft), capacities, skills, shifts, breaks,
    reloads, limits, pairs, prefixes and jobs kept with a vehicle."""
    num_jobs = draw(st.integers(0, 7))
    num_places = draw(st.integers(1, num_jobs + 2))
    xs = draw(st.lists(st.integers(0, 100), min_size=num_places, max_size=num_places))
    ys = draw(st.lists(st.integers(0, 100), min_size=num_places, max_size=num_places))
    distance = np.abs(np.subtract.outer(xs, xs)) + np.abs(np.subtract.outer(ys, ys))
    duration = distance * draw(st.integers(1, 2))
    skill_sets = st.frozensets(st.sampled_from(SKILLS))
    # Most jobs need no skill, so that plenty of them can be planned.
    job_skills = st.just(frozenset[str]()) | skill_sets
    jobs: list[Job] = []
    for i in range(num_jobs):
        early = draw(st.integers(0, 300))
        # Every other job may be the drop of the job just before it.
        pick = f"j{i - 1}" if i % 2 and draw(st.booleans()) else None
        windows: tuple[tuple[int, int], ...] = ()
        if draw(st.booleans()):
            first_late = early + draw(st.integers(0, 100))
            second_early = first_late + draw(st.integers(1, 200))
            second_late = second_early + draw(st.integers(0, 200))
            windows = ((early, first_late), (second_early, second_late))
        jobs.append(
            Job(
                id=f"j{i}",
                location=draw(st.integers(0, num_places - 1)),
                service_s=draw(st.integers(0, 20)),
                early_s=early,
                late_s=early + draw(st.integers(0, 500)),
                demand=draw(st.integers(0, 3)),
                skills=draw(job_skills),
                priority=draw(st.sampled_from(list(Priority))),
                pick_job=pick,
                windows=windows,
                lateness_cost_per_min=draw(st.sampled_from([None, None, 0, 30])),
            )
        )
    drops = {job.pick_job for job in jobs if job.pick_job is not None}
    fixable = [job.id for job in jobs if job.pick_job is None]
    vehicles: list[Vehicle] = []
    for k in range(draw(st.sampled_from([1, 2, 3, 0]))):
        start = draw(st.integers(0, 100))
        prefix: list[str] = []
        if fixable and draw(st.booleans()):
            prefix = [fixable.pop(0)]
            # Fixing a pick may carry its drop along, right after it.
            if prefix[0] in drops and draw(st.booleans()):
                prefix.append(f"j{int(prefix[0][1:]) + 1}")
        breaks: tuple[Break, ...] = ()
        if draw(st.booleans()):
            rest_early = start + draw(st.integers(0, 500))
            rest_s = draw(st.integers(0, 60))
            breaks = (Break(id="rest", early_s=rest_early, duration_s=rest_s,
                            late_s=rest_early + rest_s + draw(st.integers(0, 200))),)
        reloads = tuple(draw(st.lists(st.integers(0, num_places - 1), max_size=2, unique=True)))
        vehicles.append(
            Vehicle(
                id=f"v{k}",
                breaks=breaks,
                reload_locations=reloads,
                max_reloads=draw(st.none() | st.integers(0, 2)),
                reload_s=draw(st.integers(0, 10)),
                start_location=draw(st.integers(0, num_places - 1)),
                end_location=draw(st.none() | st.integers(0, num_places - 1)),
                start_s=start,
                end_s=start + draw(st.integers(0, 1000)),
                capacity=draw(st.integers(0, 6)),
                skills=draw(skill_sets),
                max_distance_m=draw(st.none() | st.integers(50, 600)),
                fixed_jobs=tuple(prefix),
            )
        )
    # Some jobs that no route holds fixed are kept with one vehicle (a re-plan's
    # keep_with_worker).
    fixed = {job_id for vehicle in vehicles for job_id in vehicle.fixed_jobs}
    if vehicles:
        jobs = [
            replace(job, vehicle=draw(st.sampled_from([v.id for v in vehicles])))
            if job.id not in fixed and draw(st.integers(0, 3)) == 0 else job
            for job in jobs
        ]
    return Problem(
        distance_m=distance,
        duration_s=duration,
        jobs=tuple(jobs),
        vehicles=tuple(vehicles),
        objective=draw(st.sampled_from(list(Objective))),
    )


@settings(
    max_examples=40,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(problems(), st.integers(0, 1000))
def test_solution_is_valid_and_complete(problem: Problem, seed: int) -> None:
    """Each job is on exactly one route or unassigned with a known reason; check() finds nothing."""
    solution = solve(problem, time_budget_s=0.2, seed=seed)
    assert check(problem, solution) == []
    served = [job_id for route in solution.routes for job_id in route.job_ids]
    assert len(served) == len(set(served))
    assert sorted([*served, *solution.unassigned]) == sorted(job.id for job in problem.jobs)
    assert set(solution.unassigned.values()) <= set(ALL_REASONS)
    for vehicle in problem.vehicles:
        route = solution.route_of(vehicle.id)
        if vehicle.fixed_jobs:
            assert route is not None
            assert route.job_ids[: len(vehicle.fixed_jobs)] == vehicle.fixed_jobs


@settings(
    max_examples=15,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(problems(), st.integers(0, 1000))
def test_same_seed_gives_same_solution(problem: Problem, seed: int) -> None:
    """One process, small problem: iteration limits end the search, so a seed fixes the plan."""
    first = solve(problem, time_budget_s=30, seed=seed)
    second = solve(problem, time_budget_s=30, seed=seed)
    assert first == second
