"""The warm pool of solver processes: started once, reused, replaced when a process dies."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool

import pytest
from optimizer_builders import line_problem

from routekeeper.planning.optimizer import Job, Problem, Vehicle, check, solve
from routekeeper.planning.optimizer import search as search_module


def _problem() -> Problem:
    jobs = [Job(id=f"j{i}", location=i) for i in range(1, 6)]
    vans = [Vehicle(id=v, start_location=0, end_location=0, start_s=0, end_s=100_000)
            for v in ("a", "b")]
    return line_problem([0, 3, 8, 20, 25, 40], jobs, vans)


def _pool_pids() -> set[int]:
    """The process ids of the warm pool's solver processes."""
    pool = search_module._pool
    assert pool is not None
    return set(pool._processes or {})


def test_warm_up_starts_processes_that_runs_reuse() -> None:
    search_module.warm_up(2)
    pool = search_module._pool
    assert pool is not None
    before = _pool_pids()
    assert len(before) == 2 and os.getpid() not in before
    solution = solve(_problem(), time_budget_s=0.3, seed=1, processes=2)
    assert check(_problem(), solution) == []
    assert search_module._pool is pool
    assert _pool_pids() == before  # the same processes, none started for the run


def test_a_dead_solver_process_fails_one_run_then_fresh_processes_take_over() -> None:
    search_module.warm_up(2)
    victim = next(iter(_pool_pids()))
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(BrokenProcessPool):
        solve(_problem(), time_budget_s=0.3, seed=1, processes=2)
    # The job queue retries a failed run; the retry gets new processes.
    solution = solve(_problem(), time_budget_s=0.3, seed=1, processes=2)
    assert solution.unassigned == {}
    assert victim not in _pool_pids()



@pytest.mark.parametrize(("busy", "expected"), [(0.0, 2), (0.4, 2), (0.6, 1), (1.7, 1), (2.0, 1)])
def test_seeds_run_only_on_cores_idle_now(monkeypatch: pytest.MonkeyPatch, busy: float,
                                         expected: int) -> None:
    """processes=0 runs one seed per core not busy with other work while it looks, at least one."""
    samples = iter([(0, 0), (round(busy * 100), 200)])  # two cores watched for 1 s of ticks
    monkeypatch.setattr(search_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(search_module, "_cpu_times", lambda: next(samples))
    assert search_module.idle_cores(sample_s=0.0) == expected


@pytest.mark.parametrize(("load", "expected"), [(0.0, 2), (0.4, 2), (0.8, 1), (1.7, 1), (9.0, 1)])
def test_without_proc_stat_the_load_average_decides(monkeypatch: pytest.MonkeyPatch, load: float,
                                                    expected: int) -> None:
    monkeypatch.setattr(search_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(search_module, "_cpu_times", lambda: None)
    monkeypatch.setattr(search_module.os, "getloadavg", lambda: (load, load, load))
    assert search_module.idle_cores() == expected
