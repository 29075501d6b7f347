"""Running PyVRP on translated data: budgets, the two search phases, and parallel seeds.

Phase 1 searches with optional (prize-collecting) jobs. As soon as its best solution is
feasible and serves every job, phase 2 takes over with every job required, which is PyVRP's
plain model and searches faster; otherwise phase 1 runs to the end.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
from pyvrp.stop import MaxIterations, MultipleCriteria, NoImprovement
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
    """When one search run stops: a wall-clock deadline or iteration counts, whichever is first."""

    budget_s: float
    no_improvement: int
    max_iterations: int
    # ``time.time()`` by which every search run stops. An absolute instant rather than a
    # duration, because a duration would start late: PyVRP's MaxRuntime starts after its own
    # setup, and a spawned search process first spends its start-up; both used to come on
    # top of the budget. Wall-clock time, since the deadline is shared between processes.
    deadline: float = float("inf")


def limits_for(num_jobs: int, time_budget_s: float) -> Limits:
    """Limits scaled to the problem: small problems get a small slice of the budget."""
    budget_s = max(0.0, min(time_budget_s, max(MIN_BUDGET_S, SECONDS_PER_JOB * num_jobs)))
    return Limits(
        budget_s=budget_s,
        no_improvement=NO_IMPROVEMENT_FLOOR + NO_IMPROVEMENT_PER_JOB * num_jobs,
        max_iterations=MAX_ITERATIONS_FLOOR + MAX_ITERATIONS_PER_JOB * num_jobs,
        deadline=time.time() + budget_s,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One run's best solution as plain data: (vehicle type, visits) per route, and its cost."""

    cost: int
    feasible: bool
    routes: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]


def _serves_everything(solution: Solution, translation: Translation) -> bool:
    """Feasible and no optional job left out (one client of each group counts for its job)."""
    return (
        solution.is_feasible()
        and solution.num_clients() == translation.num_client_units
        and solution.num_missing_groups() == 0
        and solution.num_missing_shipments() == 0
    )


class _AllServed(IteratedLocalSearchCallbacks):
    """Watches the search and raises a flag once the best solution serves every job."""

    def __init__(self, translation: Translation) -> None:
        """Start lowered."""
        self.translation = translation
        self.reached = False
        self.at_start = False

    def on_start(self, ils: IteratedLocalSearch) -> None:
        """The initial solution may already serve everything."""
        self.reached = self.at_start = _serves_everything(ils.initial_solution,
                                                          self.translation)

    def on_best(self, best: Solution) -> None:
        """Check every new best solution."""
        self.reached = self.reached or _serves_everything(best, self.translation)

    def __call__(self, best_cost: int) -> bool:
        """Stopping criterion: true once the flag is up."""
        del best_cost
        return self.reached


def _plain(solution: Solution) -> Candidate:
    """Copy a PyVRP solution into picklable plain data (depots inside a route are reloads)."""
    routes = tuple(
        (route.vehicle_type(), tuple((int(a.type.value), a.idx) for a in list(route)[1:-1]))
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


class _Deadline:
    """Stopping criterion: true from a fixed wall-clock instant on."""

    def __init__(self, deadline: float) -> None:
        """Stop at ``deadline`` (``time.time()``)."""
        self.deadline = deadline

    def __call__(self, best_cost: float) -> bool:
        """Whether the deadline has passed."""
        del best_cost
        return time.time() >= self.deadline


def _stop(limits: Limits) -> list[StoppingCriterion]:
    """Criteria shared by both phases."""
    return [
        _Deadline(limits.deadline),
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
    watcher = _AllServed(translation)
    params = SolveParams(
        ils=IteratedLocalSearchParams(callbacks=watcher),
        penalty=PenaltyParams(max_penalty=translation.max_penalty),
    )
    first = solve(
        translation.data,
        MultipleCriteria([watcher, *_stop(limits)]),
        seed=seed,
        collect_stats=False,
        display=False,
        params=params,
    ).best
    if not watcher.reached:
        return _plain(first)
    best = _plain(first)
    if time.time() >= limits.deadline:
        return best
    # When PyVRP's own first solution already serves everything, phase 1 proved nothing that
    # plain PyVRP would not find too: start phase 2 afresh with the same seed, so that the
    # search is exactly PyVRP's plain solve. Otherwise continue from what phase 1 found.
    second = solve(
        translation.required_data,
        MultipleCriteria(_stop(limits)),
        seed=seed,
        collect_stats=False,
        display=False,
        initial_solution=None
        if watcher.at_start
        else _rebuild(translation.required_data, best),
    ).best
    improved = _plain(second)
    return improved if improved.feasible and improved.cost <= best.cost else best


# The solver processes outlive a run: a spawned process first starts an interpreter and
# imports PyVRP (about half a second), which a run would otherwise spend from its budget.
# One run at a time uses the warm pool; a run that finds it busy (several runner threads
# planning at once) starts processes of its own, as every run did before the pool existed.
_pool_guard = threading.Lock()
_pool_busy = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def _new_pool(processes: int) -> ProcessPoolExecutor:
    # Spawned (not forked) processes: the caller may be a threaded web server.
    return ProcessPoolExecutor(max_workers=processes,
                               mp_context=multiprocessing.get_context("spawn"))


# How long idle_cores watches the cores: /proc/stat counts in 1/100 s per core, so this sees
# busy work to a tenth of a core on two cores, and costs the search 1 % of a 10 s budget.
CPU_SAMPLE_S = 0.1


def _cpu_times() -> tuple[int, int] | None:
    """Busy (at normal priority) and total time of all cores so far (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(ticks) < 5:
        return None
    # Niced work (tests, batch jobs) yields to the seeds, so its time counts as free here.
    free = ticks[1] + ticks[3] + ticks[4]  # nice, idle, iowait
    return sum(ticks) - free, sum(ticks)


def idle_cores(sample_s: float = CPU_SAMPLE_S) -> int:
    """Cores not busy with other work right now, at least one.

    On a machine whose cores are shared, two seeds that each get half a core find worse plans
    than one seed with a whole core: the parallel seeds only pay where cores are free. The
    cores are watched for ``sample_s`` rather than read from the load average: that average
    trails by minutes, so a run planned right after another (a worker taking the next job, a
    benchmark's next instance) counted the finished run's seeds as busy and ran one seed on a
    quiet machine. Where /proc/stat is missing, the 1-minute load average decides.
    """
    cores = os.cpu_count() or 1
    before = _cpu_times()
    if before is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            return cores
        return max(1, min(cores, round(cores - load)))
    time.sleep(sample_s)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return cores
    busy = cores * (after[0] - before[0]) / (after[1] - before[1])
    return max(1, min(cores, round(cores - busy)))


def _warm_pool(processes: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _pool_guard:
        if _pool is not None and _pool_size < processes:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            _pool, _pool_size = _new_pool(processes), processes
        return _pool


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_guard:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _ready() -> int:
    return os.getpid()


def warm_up(processes: int) -> None:
    """Start the solver processes now, so that the first run does not wait for them."""
    if processes < 1 or not _pool_busy.acquire(blocking=False):
        return
    try:
        pool = _warm_pool(processes)
        # Submitted together, the tasks find no idle process and start one each.
        for future in [pool.submit(_ready) for _ in range(processes)]:
            future.result()
    except BrokenProcessPool:
        _discard_pool(pool)
    finally:
        _pool_busy.release()


def _run_seeds(
    pool: ProcessPoolExecutor, translation: Translation, seed: int, processes: int,
    limits: Limits,
) -> list[Candidate]:
    futures = [pool.submit(search_once, translation, seed + k, limits) for k in range(processes)]
    return [future.result() for future in futures]


def search(translation: Translation, seed: int, processes: int, limits: Limits) -> Candidate:
    """Best of ``processes`` independent seeds (seed, seed + 1, ...); ties go to the lower seed.

    One seed runs in this process unless solver processes were warmed up (a worker's): then
    it runs in one of them, so that a long search does not hold this process's interpreter.
    """
    if processes <= 1 and _pool is None:
        return search_once(translation, seed, limits)
    if _pool_busy.acquire(blocking=False):
        pool = _warm_pool(processes)
        try:
            results = _run_seeds(pool, translation, seed, processes, limits)
        except BrokenProcessPool:
            _discard_pool(pool)  # a solver process died: the next run starts fresh ones
            raise
        finally:
            _pool_busy.release()
    elif processes <= 1:
        return search_once(translation, seed, limits)
    else:
        with _new_pool(processes) as own:
            results = _run_seeds(own, translation, seed, processes, limits)
    feasible = [r for r in results if r.feasible] or results
    return min(feasible, key=lambda r: r.cost)
