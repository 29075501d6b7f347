"""Workers who start at one place share one PyVRP depot and, when alike, one vehicle type."""

from __future__ import annotations

import numpy as np
from optimizer_builders import line_problem

from routekeeper.planning.optimizer import Job, Problem, Vehicle, check, solve
from routekeeper.planning.optimizer.diagnose import fleet
from routekeeper.planning.optimizer.solver import _units
from routekeeper.planning.optimizer.translate import translate
from routekeeper.planning.optimizer.warm import availability


def _depot_copies(copies: int) -> Problem:
    """``copies`` vans, each with its own location at the same depot point (0 m)."""
    positions = [0] * copies + [5, 9, 14, 30]
    jobs = [Job(id=f"j{i}", location=copies + i) for i in range(4)]
    vans = [Vehicle(id=f"v{k}", start_location=k, end_location=k, end_s=10_000)
            for k in range(copies)]
    return line_problem(positions, jobs, vans)


def _translated(problem: Problem) -> tuple[int, int]:
    states = [availability(problem, v) for v in problem.vehicles]
    units = _units(problem, fleet(problem, states), states, {})
    data = translate(problem, states, units).data
    return data.num_depots, data.num_vehicle_types


def test_vans_at_one_place_share_a_depot_and_a_vehicle_type() -> None:
    assert _translated(_depot_copies(5)) == (1, 1)


def test_a_place_that_differs_keeps_its_own_depot() -> None:
    problem = _depot_copies(3)
    matrix = np.array(problem.distance_m, copy=True)
    matrix[2, :] += 1  # the third van's place is a little farther from everything
    matrix[2, 2] = 0
    other = Problem(distance_m=matrix, duration_s=matrix, jobs=problem.jobs,
                    vehicles=problem.vehicles, objective=problem.objective,
                    locations=problem.locations)
    assert _translated(other) == (2, 2)


def test_shared_depot_plans_are_valid_and_name_each_van_once() -> None:
    problem = _depot_copies(5)
    solution = solve(problem, time_budget_s=0.3, seed=1)
    assert check(problem, solution) == []
    assert solution.unassigned == {}
    vans = [route.vehicle_id for route in solution.routes]
    assert len(vans) == len(set(vans))
