"""Running PyVRP on translated data: budgets, the two search phases, and parallel seeds.

Phase 1 searches with optional (prize-collecting) jobs. As soon as its best solution is
feasible and serves every job, phase 2 takes over with every job required, which is PyVRP's
plain model and searches faster; otherwise phase 1 runs to the end.
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from pyvrp import (
    Activity,
    ActivityType,
    IteratedLocalSearch,
    IteratedLocalSearchParams,
    ProblemData,
    Route,
    Solution,
    SolveParams,
    solve,
)
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.IteratedLocalSearch import IteratedLocalSearchCallbacks
from pyvrp.PenaltyManager import PenaltyParams
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement
from pyvrp.stop.StoppingCriterion import StoppingCriterion

from routekeeper.planning.optimizer.translate import Translation

# The search gets this much time per planned job, up to the caller's budget.
SECONDS_PER_JOB = 0.1
MIN_BUDGET_S = 0.05
# Stop after this many iterations without a better solution (per planned job, plus a floor),
# and never run more than MAX_ITERATIONS_PER_JOB per job: both keep small problems short and,
# when they bind before the clock does, make the result independent of machine speed.
NO_IMPROVEMENT_PER_JOB = 300
NO_IMPROVEMENT_FLOOR = 2_000
MAX_ITERATIONS_PER_JOB = 2_000
MAX_ITERATIONS_FLOOR = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """When one search run stops: wall-clock seconds or iteration counts, whichever is first."""

    budget_s: float
    no_improvement: int
    max_iterations: int


def limits_for(num_jobs: int, time_budget_s: float) -> Limits:
    """Limits scaled to the problem: small problems get a small slice of the budget."""
    budget_s = min(time_budget_s, max(MIN_BUDGET_S, SECONDS_PER_JOB * num_jobs))
    return Limits(
        budget_s=max(0.0, budget_s),
        no_improvement=NO_IMPROVEMENT_FLOOR + NO_IMPROVEMENT_PER_JOB * num_jobs,
        max_iterations=MAX_ITERATIONS_FLOOR + MAX_ITERATIONS_PER_JOB * num_jobs,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One run's best solution as plain data: (vehicle type, visits) per route, and its cost."""

    cost: int
    feasible: bool
    routes: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]


def _serves_everything(solution: Solution) -> bool:
    """Feasible and no optional job left out."""
    return (
        solution.is_feasible()
        and solution.num_missing_clients() == 0
        and solution.num_missing_shipments() == 0
    )


class _AllServed(IteratedLocalSearchCallbacks):
    """Watches the search and raises a flag once the best solution serves every job."""

    def __init__(self) -> None:
        """Start lowered."""
        self.reached = False
        self.at_start = False

    def on_start(self, ils: IteratedLocalSearch) -> None:
        """The initial solution may already serve everything."""
        self.reached = self.at_start = _serves_everything(ils.initial_solution)

    def on_best(self, best: Solution) -> None:
        """Check every new best solution."""
        self.reached = self.reached or _serves_everything(best)

    def __call__(self, best_cost: int) -> bool:
        """Stopping criterion: true once the flag is up."""
        del best_cost
        return self.reached


def _plain(solution: Solution) -> Candidate:
    """Copy a PyVRP solution into picklable plain data."""
    routes = tuple(
        (
            route.vehicle_type(),
            tuple((int(a.type.value), a.idx) for a in route if not a.is_depot()),
        )
        for route in solution.routes()
    )
    cost = solution.distance_cost() + solution.duration_cost() + solution.uncollected_prizes()
    return Candidate(cost=cost, feasible=solution.is_feasible(), routes=routes)


def _rebuild(data: ProblemData, candidate: Candidate) -> Solution:
    """The same routes as a solution of other data with the same indices."""
    routes = [
        Route(data, [Activity(ActivityType(kind), idx) for kind, idx in visits], vehicle_type)
        for vehicle_type, visits in candidate.routes
    ]
    return Solution(data, routes)


def _stop(seconds: float, limits: Limits) -> list[StoppingCriterion]:
    """Criteria shared by both phases."""
    return [
        MaxRuntime(max(0.0, seconds)),
        NoImprovement(limits.no_improvement),
        MaxIterations(limits.max_iterations),
    ]


def search_once(translation: Translation, seed: int, limits: Limits) -> Candidate:
    """Run both phases with one seed and return the best solution found."""
    with warnings.catch_warnings():
        # Expected when not every job fits: we handle infeasibility by dropping jobs.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        return _two_phases(translation, seed, limits)


def _two_phases(translation: Translation, seed: int, limits: Limits) -> Candidate:
    """Phase 1 with optional jobs; phase 2 with required jobs once all are served."""
    started = time.perf_counter()
    watcher = _AllServed()
    params = SolveParams(
        ils=IteratedLocalSearchParams(callbacks=watcher),
        penalty=PenaltyParams(max_penalty=translation.max_penalty),
    )
    first = solve(
        translation.data,
        MultipleCriteria([watcher, *_stop(limits.budget_s, limits)]),
        seed=seed,
        collect_stats=False,
        display=False,
        params=params,
    ).best
    if not watcher.reached:
        return _plain(first)
    left_s = limits.budget_s - (time.perf_counter() - started)
    best = _plain(first)
    if left_s <= 0:
        return best
    # When PyVRP's own first solution already serves everything, phase 1 proved nothing that
    # plain PyVRP would not find too: start phase 2 afresh with the same seed, so that the
    # search is exactly PyVRP's plain solve. Otherwise continue from what phase 1 found.
    second = solve(
        translation.required_data,
        MultipleCriteria(_stop(left_s, limits)),
        seed=seed,
        collect_stats=False,
        display=False,
        initial_solution=None
        if watcher.at_start
        else _rebuild(translation.required_data, best),
    ).best
    improved = _plain(second)
    return improved if improved.feasible and improved.cost <= best.cost else best


def search(translation: Translation, seed: int, processes: int, limits: Limits) -> Candidate:
    """Best of ``processes`` independent seeds (seed, seed + 1, ...); ties go to the lower seed."""
    if processes <= 1:
        return search_once(translation, seed, limits)
    # Spawned (not forked) workers: the caller may be a threaded web server.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [
            pool.submit(search_once, translation, seed + k, limits) for k in range(processes)
        ]
        results = [future.result() for future in futures]
    feasible = [r for r in results if r.feasible] or results
    return min(feasible, key=lambda r: r.cost)
