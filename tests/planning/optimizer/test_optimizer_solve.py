"""Behaviour of solve() on small hand-built problems."""

from __future__ import annotations

import time

import numpy as np
from optimizer_builders import line_problem

from routekeeper.planning.optimizer import (
    ALL_REASONS,
    DROPPED_FOR_PLAN,
    EXCEEDS_CAPACITY,
    NO_SKILLED_WORKER,
    Job,
    Objective,
    Priority,
    Problem,
    Vehicle,
    check,
    solve,
)

BUDGET_S = 0.2


def depot_van(vehicle_id: str = "van", **changes: object) -> Vehicle:
    """A vehicle based at location 0 with a generous shift."""
    fields: dict[str, object] = dict(
        id=vehicle_id, start_location=0, end_location=0, start_s=0, end_s=100_000
    )
    fields.update(changes)
    return Vehicle(**fields)  # type: ignore[arg-type]


def test_serves_everything_that_fits() -> None:
    """Four jobs on a line, one vehicle: all served on the shortest (80 m) tour."""
    jobs = [Job(id=f"j{i}", location=i) for i in (1, 2, 3, 4)]
    problem = line_problem([0, 10, 20, 30, 40], jobs, [depot_van()])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert solution.unassigned == {}
    assert solution.total_distance_m == 80
    assert sorted(solution.routes[0].job_ids) == ["j1", "j2", "j3", "j4"]


def test_small_problem_is_fast_even_with_a_large_budget() -> None:
    """A 5-job problem stops on its own long before a 10 s budget."""
    jobs = [Job(id=f"j{i}", location=i) for i in range(1, 6)]
    problem = line_problem([0, 5, 9, 14, 30, 41], jobs, [depot_van(), depot_van("b")])
    started = time.perf_counter()
    solve(problem, time_budget_s=10, seed=1)
    assert time.perf_counter() - started < 2.0


def test_high_priority_kept_over_low_when_only_one_fits() -> None:
    """Capacity 1 and two jobs: the high-priority one is served even though it is farther."""
    near = Job(id="near", location=1, priority=Priority.LOW)
    far = Job(id="far", location=2, priority=Priority.HIGH)
    problem = line_problem([0, 10, 90], [near, far], [depot_van(capacity=1)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert solution.routes[0].job_ids == ("far",)
    assert solution.unassigned == {"near": DROPPED_FOR_PLAN}


def test_fixed_prefix_is_kept_in_order() -> None:
    """Fixed jobs stay first and in the given order even when another order is shorter."""
    jobs = [Job(id=f"j{i}", location=i) for i in (1, 2, 3)]
    van = depot_van(fixed_jobs=("j3", "j1"))
    problem = line_problem([0, 10, 20, 30], jobs, [van, depot_van("other")])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    route = solution.route_of("van")
    assert route is not None
    assert route.job_ids[:2] == ("j3", "j1")
    assert route.start_s == 0


def test_fixed_prefix_is_kept_even_when_late() -> None:
    """A fixed job that already broke its window is a fact, not a reason to fail."""
    late = Job(id="late", location=1, late_s=0)
    problem = line_problem([0, 10], [late], [depot_van(fixed_jobs=("late",))])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert solution.routes[0].job_ids == ("late",)
    assert check(problem, solution) == []


def test_new_jobs_are_planned_after_the_prefix_from_where_it_ends() -> None:
    """After a fixed job far away, a job there is cheap for this vehicle only."""
    jobs = [Job(id="done", location=2, service_s=10), Job(id="new", location=2)]
    vans = [depot_van("busy", fixed_jobs=("done",)), depot_van("idle")]
    problem = line_problem([0, 5, 1000], jobs, vans)
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    route = solution.route_of("busy")
    assert route is not None and route.job_ids == ("done", "new")
    assert route.stops[1].start_s == 1010


def test_skills_are_respected() -> None:
    """Each job goes to the only vehicle that has its skill; an unknown skill is unassigned."""
    jobs = [
        Job(id="cold", location=1, skills=frozenset({"fridge"})),
        Job(id="heavy", location=2, skills=frozenset({"crane"})),
        Job(id="odd", location=3, skills=frozenset({"boat"})),
    ]
    vans = [
        depot_van("f", skills=frozenset({"fridge"})),
        depot_van("c", skills=frozenset({"crane"})),
    ]
    problem = line_problem([0, 10, 11, 12], jobs, vans)
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert solution.route_of("f").job_ids == ("cold",)  # type: ignore[union-attr]
    assert solution.route_of("c").job_ids == ("heavy",)  # type: ignore[union-attr]
    assert solution.unassigned == {"odd": NO_SKILLED_WORKER}


def test_pick_before_drop_on_one_route() -> None:
    """A pair whose drop lies before its pick on the line is still served pick first."""
    pick = Job(id="pick", location=2, demand=2)
    drop = Job(id="drop", location=1, pick_job="pick")
    other = Job(id="other", location=3)
    problem = line_problem([0, 10, 20, 30], [pick, drop, other], [depot_van(capacity=3)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    order = solution.routes[0].job_ids
    assert order.index("pick") < order.index("drop")


def test_pair_capacity_counts_only_between_pick_and_drop() -> None:
    """Capacity 2: a 2-unit pair and a 2-unit delivery fit if the delivery comes first."""
    delivery = Job(id="deliver", location=1, demand=2)
    pick = Job(id="pick", location=2, demand=2)
    drop = Job(id="drop", location=3, pick_job="pick")
    problem = line_problem([0, 10, 20, 30], [delivery, pick, drop], [depot_van(capacity=2)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert solution.routes[0].job_ids == ("deliver", "pick", "drop")


def test_open_end_route_stops_at_last_job() -> None:
    """Without an end location the route ends at its last job: no return leg."""
    jobs = [Job(id="a", location=1), Job(id="b", location=2)]
    problem = line_problem([0, 10, 20], jobs, [Vehicle(id="v", start_location=0)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert solution.routes[0].job_ids == ("a", "b")
    assert solution.total_distance_m == 20
    assert solution.routes[0].end_s == solution.routes[0].stops[-1].departure_s


def test_capacity_reason_for_oversized_job() -> None:
    """A job larger than every vehicle is reported, the rest is planned."""
    jobs = [Job(id="big", location=1, demand=5), Job(id="small", location=1)]
    problem = line_problem([0, 10], jobs, [depot_van(capacity=2)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert solution.unassigned == {"big": EXCEEDS_CAPACITY}


def test_waiting_is_cut_by_leaving_later() -> None:
    """A job that opens at 1000 s: the route leaves late instead of waiting on site."""
    problem = line_problem(
        [0, 10], [Job(id="a", location=1, early_s=1000, late_s=2000)], [depot_van()]
    )
    route = solve(problem, time_budget_s=BUDGET_S, seed=1).routes[0]
    assert route.start_s == 990
    assert route.stops[0].arrival_s == route.stops[0].start_s == 1000
    assert route.duration_s == 20


def test_objective_changes_the_plan() -> None:
    """Two routes to one job: the short slow one for distance, the long fast one for time
    (balance_time is time with a surcharge on long routes)."""
    distance = np.array([[0, 10, 50], [10, 0, 50], [50, 50, 0]])
    duration = np.array([[0, 100, 5], [100, 0, 5], [5, 5, 0]])
    # Vehicle "slow" starts at 0, vehicle "fast" at 2; the job is at 1; both end where they start.
    jobs = [Job(id="a", location=1)]
    vans = [
        Vehicle(id="slow", start_location=0, end_location=0),
        Vehicle(id="fast", start_location=2, end_location=2),
    ]
    chosen = {}
    for objective in Objective:
        problem = Problem(distance, duration, tuple(jobs), tuple(vans), objective)
        chosen[objective] = solve(problem, time_budget_s=BUDGET_S, seed=1).routes[0].vehicle_id
    assert chosen == {Objective.MINIMISE_DISTANCE: "slow", Objective.MINIMISE_TIME: "fast",
                      Objective.BALANCE_TIME: "fast"}


def test_parallel_seeds_give_a_valid_plan() -> None:
    """processes=2 runs two seeds in worker processes and returns a checked plan."""
    jobs = [Job(id=f"j{i}", location=i) for i in range(1, 6)]
    problem = line_problem([0, 3, 8, 20, 25, 40], jobs, [depot_van(), depot_van("b")])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=3, processes=2)
    assert check(problem, solution) == []
    assert solution.unassigned == {}


def test_reasons_are_known_strings() -> None:
    """Every reason solve() gives is one of the exported constants."""
    jobs = [Job(id=f"j{i}", location=1, late_s=5 * i) for i in range(1, 6)]
    problem = line_problem([0, 10], jobs, [depot_van(capacity=1)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert set(solution.unassigned.values()) <= set(ALL_REASONS)
    assert len(solution.unassigned) == 5 - sum(len(r.stops) for r in solution.routes)


def test_drop_of_a_fixed_pick_stays_with_that_vehicle() -> None:
    """The pick is already on board of "far": its drop is planned there, not on the nearer van."""
    pick = Job(id="pick", location=2, demand=3)
    drop = Job(id="drop", location=1, pick_job="pick")
    vans = [depot_van("far", fixed_jobs=("pick",), capacity=3), depot_van("near", capacity=3)]
    problem = line_problem([0, 10, 500], [pick, drop], vans)
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert solution.route_of("far").job_ids == ("pick", "drop")  # type: ignore[union-attr]
    assert solution.route_of("near") is None
