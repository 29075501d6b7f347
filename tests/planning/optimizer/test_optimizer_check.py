"""check() finds each kind of violation in hand-made broken solutions; repair removes them."""

from __future__ import annotations

from dataclasses import replace

from optimizer_builders import line_problem

from routekeeper.planning.optimizer import (
    DROPPED_FOR_PLAN,
    Job,
    Problem,
    Solution,
    Vehicle,
    check,
)
from routekeeper.planning.optimizer.schedule import plan_route
from routekeeper.planning.optimizer.solver import _repair
from routekeeper.planning.optimizer.warm import availability


def van(**changes: object) -> Vehicle:
    """A depot vehicle with a long shift."""
    fields: dict[str, object] = dict(id="v", start_location=0, end_location=0, end_s=10_000)
    fields.update(changes)
    return Vehicle(**fields)  # type: ignore[arg-type]


def planned(
    problem: Problem, order: list[str], unassigned: dict[str, str] | None = None
) -> Solution:
    """A solution driving ``order`` with the problem's first vehicle."""
    indices = [problem.job_index(job_id) for job_id in order]
    route = plan_route(problem, problem.vehicles[0], indices)
    return Solution(routes=(route,), unassigned=unassigned or {})


def only(violations: list[str], word: str) -> bool:
    """Exactly one violation, mentioning ``word``."""
    return len(violations) == 1 and word in violations[0]


def test_valid_solution_has_no_violations() -> None:
    """A feasible route passes."""
    problem = line_problem([0, 10], [Job(id="a", location=1)], [van()])
    assert check(problem, planned(problem, ["a"])) == []


def test_time_window() -> None:
    """Arriving after the window closes."""
    problem = line_problem([0, 10], [Job(id="a", location=1, late_s=5)], [van()])
    assert only(check(problem, planned(problem, ["a"])), "window")


def test_capacity() -> None:
    """Two deliveries of 2 on a vehicle of 3."""
    jobs = [Job(id="a", location=1, demand=2), Job(id="b", location=1, demand=2)]
    problem = line_problem([0, 10], jobs, [van(capacity=3)])
    assert only(check(problem, planned(problem, ["a", "b"])), "capacity")


def test_skills() -> None:
    """A vehicle without the job's skill."""
    problem = line_problem([0, 10], [Job(id="a", location=1, skills=frozenset({"x"}))], [van()])
    assert only(check(problem, planned(problem, ["a"])), "skills")


def test_shift_end() -> None:
    """Finishing after the shift."""
    problem = line_problem([0, 10], [Job(id="a", location=1)], [van(end_s=15)])
    assert only(check(problem, planned(problem, ["a"])), "shift")


def test_max_distance() -> None:
    """Driving farther than allowed."""
    problem = line_problem([0, 10], [Job(id="a", location=1)], [van(max_distance_m=15)])
    assert only(check(problem, planned(problem, ["a"])), "maximum")


def test_pairing_order_and_completeness() -> None:
    """A drop before its pick, and a pick served without its drop."""
    jobs = [Job(id="p", location=1), Job(id="d", location=1, pick_job="p")]
    problem = line_problem([0, 10], jobs, [van()])
    assert check(problem, planned(problem, ["d", "p"]))
    assert check(problem, planned(problem, ["p"], {"d": DROPPED_FOR_PLAN}))


def test_job_served_twice_or_missing() -> None:
    """Duplicates and jobs neither served nor unassigned are reported."""
    jobs = [Job(id="a", location=1), Job(id="b", location=1)]
    problem = line_problem([0, 10], jobs, [van()])
    assert any("2 times" in v for v in check(problem, planned(problem, ["a", "a"])))
    assert any("neither" in v for v in check(problem, planned(problem, ["a"])))


def test_stated_times_must_match() -> None:
    """A route whose reported times were tampered with is rejected."""
    problem = line_problem([0, 10], [Job(id="a", location=1)], [van()])
    solution = planned(problem, ["a"])
    forged = replace(solution.routes[0], end_s=1)
    assert check(problem, Solution(routes=(forged,), unassigned={}))


def test_fixed_prefix_must_lead_the_route() -> None:
    """A vehicle's fixed jobs must open its route."""
    jobs = [Job(id="a", location=1), Job(id="b", location=1)]
    problem = line_problem([0, 10], jobs, [van(fixed_jobs=("a",))])
    assert check(problem, planned(problem, ["b", "a"]))


def test_repair_drops_only_what_breaks() -> None:
    """Repair keeps the valid jobs of a broken route and closes pairs."""
    jobs = [
        Job(id="ok", location=1),
        Job(id="late", location=1, late_s=0),
        Job(id="pick", location=1),
        Job(id="drop", location=1, late_s=0, pick_job="pick"),
    ]
    problem = line_problem([0, 10], jobs, [van()])
    state = availability(problem, problem.vehicles[0])
    kept = _repair(problem, state, [0, 1, 2, 3])
    assert [problem.jobs[i].id for i in kept] == ["ok"]
