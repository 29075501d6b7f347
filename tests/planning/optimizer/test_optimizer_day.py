"""Windows and days as dispatchers describe them: several windows, soft windows, breaks,
reloads at a depot and balanced routes, solved and verified by check()."""

from __future__ import annotations

from dataclasses import replace

import pytest
from optimizer_builders import line_problem

from routekeeper.planning.optimizer import (
    UNREACHABLE_BEFORE_LATE,
    Break,
    Job,
    Objective,
    Problem,
    Solution,
    StopKind,
    Vehicle,
    check,
    solve,
)
from routekeeper.planning.optimizer.explain import explain
from routekeeper.planning.optimizer.schedule import plan_route, reload_visit

BUDGET_S = 2.0


def served(solution: Solution) -> dict[str, str]:
    """Vehicle id of each served job."""
    return {job_id: route.vehicle_id for route in solution.routes for job_id in route.job_ids}


def test_service_starts_in_the_first_window_still_open() -> None:
    """Minimising time, the job whose first window is still open is served in it, and the
    one reached between its windows waits for the second (rather than the reverse order,
    which would push the first job to its second window)."""
    jobs = [Job(id="gap", location=1, windows=((0, 10), (100, 200))),
            Job(id="open", location=2, windows=((0, 80), (300, 400)))]
    problem = line_problem([0, 50, 60], jobs, [Vehicle(id="v", start_location=0)],
                           Objective.MINIMISE_TIME)
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    (route,) = solution.routes
    assert route.job_ids == ("open", "gap")
    starts = {stop.job_id: stop.start_s for stop in route.stops}
    assert starts["open"] <= 80 and starts["gap"] == 100


def test_a_job_between_its_windows_is_unreachable_only_when_all_have_closed() -> None:
    """Reached after the first window but before the second, the job is served in the
    second; reached after both, it is unplanned as unreachable."""
    jobs = [Job(id="second", location=1, windows=((0, 10), (100, 200))),
            Job(id="never", location=2, windows=((0, 10), (20, 30)))]
    problem = line_problem([0, 50, 60], jobs, [Vehicle(id="v", start_location=0)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert served(solution) == {"second": "v"}
    assert solution.unassigned == {"never": UNREACHABLE_BEFORE_LATE}
    assert solution.routes[0].stops[0].start_s == 100


def test_windows_must_be_sorted_and_disjoint() -> None:
    """Overlapping or reversed windows are refused when the problem is built."""
    for windows in (((0, 50), (40, 90)), ((100, 200), (0, 10)), ((5, 1),)):
        with pytest.raises(ValueError, match="windows"):
            line_problem([0, 1], [Job(id="j", location=1, windows=windows)],
                         [Vehicle(id="v", start_location=0)])


def test_a_soft_window_is_served_late_at_a_cost_rather_than_dropped() -> None:
    """With a soft window the job 100 s away but due by 40 is served 60 s late; the same job
    with a hard window is unplanned."""
    soft = Job(id="soft", location=1, late_s=40, lateness_cost_per_min=10)
    problem = line_problem([0, 100], [soft], [Vehicle(id="v", start_location=0)])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    (stop,) = solution.routes[0].stops
    assert (stop.start_s, stop.lateness_s) == (100, 60)
    hard = line_problem([0, 100], [replace(soft, lateness_cost_per_min=None)],
                        [Vehicle(id="v", start_location=0)])
    assert solve(hard, time_budget_s=BUDGET_S, seed=1).unassigned == {
        "soft": UNREACHABLE_BEFORE_LATE}


def test_lateness_cost_decides_which_job_is_late() -> None:
    """Two soft jobs at the same place, both due at once: the one whose lateness costs more
    is served first."""
    jobs = [Job(id="cheap", location=1, service_s=60, late_s=100, lateness_cost_per_min=1),
            Job(id="dear", location=1, service_s=60, late_s=100, lateness_cost_per_min=500)]
    problem = line_problem([0, 100], jobs, [Vehicle(id="v", start_location=0)],
                           Objective.MINIMISE_TIME)
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert solution.routes[0].job_ids == ("dear", "cheap")
    assert solution.routes[0].stops[1].lateness_s == 60


def test_a_break_is_taken_within_its_window_where_it_fits() -> None:
    """A 30 s break between 100 and 200 on a route that runs from 0 to about 400 appears as a
    stop of its own kind inside its window; check() accepts the route."""
    lunch = Break(id="lunch", early_s=100, late_s=200, duration_s=30)
    jobs = [Job(id=f"j{i}", location=i + 1, service_s=50) for i in range(4)]
    problem = line_problem([0, 10, 20, 30, 40], jobs,
                           [Vehicle(id="v", start_location=0, end_location=0, breaks=(lunch,))])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    (route,) = solution.routes
    (rest,) = [s for s in route.stops if s.kind is StopKind.BREAK]
    assert rest.job_id == "lunch" and rest.start_s >= 100 and rest.departure_s <= 200
    assert rest.departure_s - rest.start_s == 30
    assert len(route.job_ids) == 4


def test_a_break_that_cannot_fit_costs_the_job_that_blocks_it() -> None:
    """A job whose window covers the whole break window leaves no room for the break: the
    job is unplanned; without the break it is planned."""
    lunch = Break(id="lunch", early_s=100, late_s=140, duration_s=40)
    job = Job(id="long", location=1, service_s=200, early_s=90, late_s=95)
    vehicle = Vehicle(id="v", start_location=0, breaks=(lunch,))
    problem = line_problem([0, 10], [job], [vehicle])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    assert served(solution) == {}
    relaxed = line_problem([0, 10], [job], [replace(vehicle, breaks=())])
    assert served(solve(relaxed, time_budget_s=BUDGET_S, seed=1)) == {"long": "v"}


def test_check_finds_a_missing_or_misplaced_break() -> None:
    """A route whose stated break is dropped, or a vehicle whose break window cannot be met,
    is reported by check()."""
    lunch = Break(id="lunch", early_s=100, late_s=200, duration_s=30)
    jobs = [Job(id="a", location=1, service_s=150), Job(id="b", location=2, service_s=150)]
    vehicle = Vehicle(id="v", start_location=0, breaks=(lunch,))
    problem = line_problem([0, 10, 20], jobs, [vehicle])
    route = plan_route(problem, vehicle, [0, 1])
    assert check(problem, Solution(routes=(route,), unassigned={})) == []
    without = replace(route, stops=tuple(s for s in route.stops if s.kind is not StopKind.BREAK))
    assert check(problem, Solution(routes=(without,), unassigned={}))
    tight = replace(vehicle, breaks=(Break(id="lunch", early_s=20, late_s=60, duration_s=30),))
    crowded = line_problem([0, 10, 20], [replace(jobs[0], early_s=15, late_s=20), jobs[1]],
                           [tight])
    route = plan_route(crowded, tight, [0, 1])
    assert any("break" in v for v in check(crowded, Solution(routes=(route,), unassigned={})))


def test_reloads_let_a_small_vehicle_serve_more_than_its_capacity() -> None:
    """Capacity 2 and four deliveries: with a reload at the depot all four are served in two
    trips (a reload stop between them); without it only two."""
    jobs = [Job(id=f"j{i}", location=i + 1) for i in range(4)]
    base = Vehicle(id="v", start_location=0, end_location=0, capacity=2)
    reloading = replace(base, reload_locations=(0,), max_reloads=1, reload_s=7)
    problem = line_problem([0, 10, 11, 12, 13], jobs, [reloading])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == []
    (route,) = solution.routes
    kinds = [stop.kind for stop in route.stops]
    assert kinds.count(StopKind.JOB) == 4 and kinds.count(StopKind.RELOAD) == 1
    reload_stop = next(s for s in route.stops if s.kind is StopKind.RELOAD)
    assert reload_stop.location == 0 and reload_stop.departure_s - reload_stop.start_s == 7
    assert kinds.index(StopKind.RELOAD) == 2
    plain = line_problem([0, 10, 11, 12, 13], jobs, [base])
    assert len(served(solve(plain, time_budget_s=BUDGET_S, seed=1))) == 2


def test_check_counts_load_per_trip_and_reloads_per_route() -> None:
    """Three deliveries of capacity 2 in one trip break capacity; split by a reload they fit;
    a second reload above max_reloads, or a reload without a depot, is reported."""
    jobs = [Job(id=f"j{i}", location=i + 1) for i in range(3)]
    vehicle = Vehicle(id="v", start_location=0, end_location=0, capacity=2,
                      reload_locations=(0,), max_reloads=1)
    problem = line_problem([0, 10, 11, 12], jobs, [vehicle])

    def verdict(visits: list[int], on: Vehicle = vehicle) -> list[str]:
        route = plan_route(problem, on, visits)
        return check(problem, Solution(routes=(route,), unassigned={}))

    assert any("capacity" in v for v in verdict([0, 1, 2]))
    assert verdict([0, reload_visit(0), 1, 2]) == []
    assert any("reloads 2 times" in v for v in verdict([0, reload_visit(0), 1, reload_visit(0), 2]))
    bare = replace(vehicle, reload_locations=())
    problem = line_problem([0, 10, 11, 12], jobs, [bare])
    assert any("no reload depot" in v for v in verdict([0, reload_visit(0), 1, 2], bare))


def test_balance_time_spreads_work_over_the_workers() -> None:
    """Four long jobs on a line from one depot: minimise_time gives them all to one worker,
    balance_time splits them between the two."""
    jobs = [Job(id=f"j{i}", location=i + 1, service_s=100) for i in range(4)]
    vans = [Vehicle(id="a", start_location=0), Vehicle(id="b", start_location=0)]
    counts = {}
    for objective in (Objective.MINIMISE_TIME, Objective.BALANCE_TIME):
        problem = Problem(*(2 * [line_problem([0, 10, 20, 30, 40], jobs, vans).distance_m]),
                          jobs=tuple(jobs), vehicles=tuple(vans), objective=objective)
        solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
        assert check(problem, solution) == []
        counts[objective] = sorted(len(route.job_ids) for route in solution.routes)
    assert counts == {Objective.MINIMISE_TIME: [4], Objective.BALANCE_TIME: [2, 2]}


def test_explain_names_the_capacity_that_ended_a_route_and_the_window_that_set_its_start(
) -> None:
    """A van of capacity 2 with three jobs: its route ends on capacity; it leaves late for a
    window that opens at 500 (window_opens), and a route with every job ends with no_more_jobs
    and leaves at its shift start when it has to."""
    jobs = [Job(id=f"j{i}", location=i + 1, early_s=500) for i in range(3)]
    van = Vehicle(id="v", start_location=0, capacity=2)
    problem = line_problem([0, 10, 20, 30], jobs, [van])
    route = solve(problem, time_budget_s=BUDGET_S, seed=1).routes[0]
    found = explain(problem, route)
    assert (found.end_reason, found.peak_load, found.capacity) == ("capacity", 2, 2)
    assert found.start_reason == "window_opens" and found.start_job == route.job_ids[0]

    roomy = line_problem([0, 10, 20, 30], [replace(j, early_s=0) for j in jobs],
                         [replace(van, capacity=5)])
    route = solve(roomy, time_budget_s=BUDGET_S, seed=1).routes[0]
    found = explain(roomy, route)
    assert (found.start_reason, found.end_reason) == ("shift_start", "no_more_jobs")


def test_explain_names_the_shift_end_and_the_closing_window() -> None:
    """A shift too short for a second job ends its route on the shift; a route that leaves
    late just in time for a window's close names that window."""
    jobs = [Job(id="a", location=1, service_s=100, late_s=300),
            Job(id="b", location=2, service_s=100)]
    van = Vehicle(id="v", start_location=0, end_s=150)
    problem = line_problem([0, 10, 500], jobs, [van])
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert solution.routes[0].job_ids == ("a",)
    assert explain(problem, solution.routes[0]).end_reason == "shift_end"
    closing = [Job(id="c1", location=1, late_s=15), Job(id="c2", location=2, early_s=200)]
    problem = line_problem([0, 10, 20], closing, [Vehicle(id="v", start_location=0)])
    route = plan_route(problem, problem.vehicles[0], [0, 1])
    assert (route.start_s, route.stops[0].start_s) == (5, 15)
    found = explain(problem, route)
    assert (found.start_reason, found.start_job) == ("window_closes", "c1")


def test_a_job_kept_with_its_vehicle_goes_nowhere_else() -> None:
    """A job next to vehicle "near" but kept with vehicle "far" is served by "far"; when
    "far" cannot reach it in time it is unassigned rather than moved; an unknown vehicle is
    refused."""
    job = Job(id="kept", location=1, late_s=1000, vehicle="far")
    vans = [Vehicle(id="near", start_location=0), Vehicle(id="far", start_location=2)]
    problem = line_problem([0, 10, 500], [job], vans)
    solution = solve(problem, time_budget_s=BUDGET_S, seed=1)
    assert check(problem, solution) == [] and served(solution) == {"kept": "far"}
    hurried = line_problem([0, 10, 500], [replace(job, late_s=100)], vans)
    solution = solve(hurried, time_budget_s=BUDGET_S, seed=1)
    assert solution.unassigned == {"kept": UNREACHABLE_BEFORE_LATE}
    route = plan_route(problem, vans[0], [0])
    assert any("belongs to" in v for v in check(problem, Solution(routes=(route,),
                                                                   unassigned={})))
    with pytest.raises(ValueError, match="unknown vehicle"):
        line_problem([0, 10], [replace(job, vehicle="ghost")], vans[:1])
