"""Benchmark solve() on Solomon / Homberger VRPTW against plain PyVRP, OR-Tools and VROOM.

Usage (from the repository root):

    PYTHONPATH=src .venv/bin/python bench/planner.py --set solomon --budget 10 \
        --solvers service,pyvrp,ortools,vroom --json bench/results/solomon-10s.json

Solvers: ``service`` is the product's own path (the instance created through the HTTP API
and planned by the ``planning.solve`` job, see service_path.py); ``routekeeper`` calls the
optimizer boundary ``solve()`` directly; ``pyvrp``, ``ortools`` and ``vroom`` are the
baselines (bench-only extras). Every solver gets the same DIMACS integer data and the same
wall-clock budget; every returned plan is re-verified with routekeeper's own ``check``
against the untouched instance and scored from the shared matrix. For ``service`` the
reported seconds are the planning job's (reading inputs, solving, writing the plan).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import Routes, solve_ortools, solve_pyvrp, solve_vroom
from service_path import ServicePath
from solomon import (
    DEFAULT_ROOT,
    SCALE,
    SolomonInstance,
    dimacs_matrix,
    gap_percent,
    read_bks,
    read_instance,
    to_problem,
)

from routekeeper.planning.optimizer import DROPPED_FOR_PLAN, Solution, check, solve
from routekeeper.planning.optimizer.schedule import plan_route

CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """One solver's outcome on one instance."""

    instance: str
    problem_class: str
    solver: str
    distance: float
    vehicles: int
    gap_percent: float
    seconds: float
    unserved: int
    violations: int
    seed: int = 1
    # CPU time this process got during the run: below the wall time when the machine is busy.
    cpu_seconds: float = float("nan")
    # Service path only: seconds from the planning job's start to the search's, and the
    # search's own budget (what is left of the planning budget by then).
    pre_search_s: float = float("nan")
    search_budget_s: float = float("nan")
    # 1-minute load average when the run started.
    load: float = float("nan")
    # The budget the solver was given (the service's wall time with --match-service).
    budget_s: float = float("nan")


def routekeeper_solver(processes: int) -> Callable[[SolomonInstance, float, int], Routes]:
    """Our path: Solomon data -> Problem -> solve()."""

    def run(instance: SolomonInstance, budget_s: float, seed: int) -> Routes:
        """Solve through the planner's boundary and return customer numbers per route."""
        solution = solve(
            to_problem(instance), time_budget_s=budget_s, seed=seed, processes=processes
        )
        return [[int(job_id) for job_id in route.job_ids] for route in solution.routes]

    return run


def score(instance: SolomonInstance, routes: Routes) -> tuple[float, int, int, int]:
    """Distance (instance units), routes used, customers not served, and check() violations."""
    matrix = dimacs_matrix(instance)
    total = 0
    for visits in routes:
        path = [0, *visits, 0]
        total += sum(int(matrix[a, b]) for a, b in itertools.pairwise(path))
    problem = to_problem(instance)
    served = {c for visits in routes for c in visits}
    unserved = [i for i in range(1, len(instance.x)) if i not in served]
    used = [visits for visits in routes if visits]
    planned = tuple(
        plan_route(problem, problem.vehicles[k], [c - 1 for c in visits])
        for k, visits in enumerate(used[: len(problem.vehicles)])
    )
    solution = Solution(planned, {str(i): DROPPED_FOR_PLAN for i in unserved})
    violations = len(check(problem, solution)) + max(0, len(used) - len(problem.vehicles))
    return total / SCALE, len(used), len(unserved), violations


def machine() -> str:
    """CPU model, core count and memory of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"
    return f"{cpu}, {os.cpu_count()} cores, {memory} RAM, Python {platform.python_version()}"


def versions() -> str:
    """Installed versions of the solver packages."""
    found = []
    for package in ("pyvrp", "ortools", "pyvroom"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} not installed")
    return ", ".join(found)


def mean(values: list[float]) -> float:
    """Arithmetic mean, NaN when empty."""
    return statistics.fmean(values) if values else float("nan")


def column(result: Result, multi_seed: set[str]) -> str:
    """Report column of a result: the solver, plus the seed when it ran with several."""
    return f"{result.solver} s{result.seed}" if result.solver in multi_seed else result.solver


def valid(result: Result) -> bool:
    """A plan that serves every customer and passes check()."""
    return not result.unserved and not result.violations


def gap_cell(rows: list[Result]) -> str:
    """Mean gap over valid plans, with the number of failed plans when there are any."""
    good = [r.gap_percent for r in rows if valid(r)]
    failed = len(rows) - len(good)
    text = f"{mean(good):.2f}" if good else "-"
    return text + (f" ({failed} failed)" if failed else "")


def render(results: list[Result], header: dict[str, str], bks: dict[str, str]) -> str:
    """The markdown report: setup, mean gap per class, then every instance."""
    seeds: dict[str, set[int]] = {}
    for r in results:
        seeds.setdefault(r.solver, set()).add(r.seed)
    multi_seed = {solver for solver, found in seeds.items() if len(found) > 1}
    columns = list(dict.fromkeys(column(r, multi_seed) for r in results))
    averaged = [f"{solver} mean" for solver in seeds if solver in multi_seed]
    by_key = {(r.instance, column(r, multi_seed)): r for r in results}
    instances = sorted({r.instance for r in results}, key=lambda n: (n[:-3], n))
    lines = ["# Planner benchmark", ""]
    lines += [f"- **{key}**: {value}" for key, value in header.items()]
    lines += ["", "## Mean gap to BKS (DIMACS) per class, %", ""]
    lines.append(
        "Plans that leave a customer unserved or fail `check()` are left out of a mean and "
        "counted as failed."
    )
    lines += ["", "| class | n | " + " | ".join([*columns, *averaged]) + " |"]
    lines.append("|---|---|" + "---|" * (len(columns) + len(averaged)))
    for name in [*CLASSES, "all"]:
        row = [r for r in results if name == "all" or r.problem_class == name]
        count = len({r.instance for r in row})
        if not count:
            continue
        cells = [gap_cell([r for r in row if column(r, multi_seed) == c]) for c in columns]
        cells += [gap_cell([r for r in row if f"{r.solver} mean" == c]) for c in averaged]
        lines.append(f"| {name} | {count} | " + " | ".join(cells) + " |")
    shares = [
        mean([r.cpu_seconds / r.seconds for r in results if column(r, multi_seed) == c])
        for c in columns
    ]
    lines.append(
        "| CPU share | | " + " | ".join(f"{100 * x:.0f} %" for x in shares) + " |" * (
            1 + len(averaged)
        )
    )
    for label, value in (("mean wall s", lambda r: r.seconds),
                         ("mean routes", lambda r: float(r.vehicles)),
                         ("mean load (1 min)", lambda r: r.load)):
        values = [mean([value(r) for r in results if column(r, multi_seed) == c]) for c in columns]
        lines.append(f"| {label} | | " + " | ".join(f"{v:.1f}" if label != "mean load (1 min)"
                                                    else f"{v:.2f}" for v in values)
                     + " |" * (1 + len(averaged)))
    timed = [r for r in results if r.solver == "service" and r.pre_search_s == r.pre_search_s]
    if timed:
        lines += ["", "## Service path: where the planning job's time goes", ""]
        lines.append("Seconds from the planning job's start to the search's (run start, reading "
                     "orders and workers, the travel matrix over HTTP, building the problem), "
                     "the search's own budget, and the whole job (including writing the plan "
                     "and the routes' estimates).")
        lines += ["", "| instance | before search | search budget | job | load |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r.instance} | {r.pre_search_s:.2f} | {r.search_budget_s:.2f} | "
                  f"{r.seconds:.2f} | {r.load:.2f} |" for r in timed]
    lines += ["", "## Per instance", ""]
    lines.append(
        "Distance in instance units (DIMACS value / 10) / routes / gap % / wall seconds / CPU "
        "seconds the solver process got (less than wall when other work shared the cores); "
        "`!` marks a plan with unserved customers or failed checks."
    )
    lines += ["", "| instance | BKS | " + " | ".join(columns) + " |"]
    lines.append("|---|---|" + "---|" * len(columns))
    for name in instances:
        cells = []
        for key in columns:
            found = by_key.get((name, key))
            if found is None:
                cells.append("not run")
                continue
            flag = "" if valid(found) else " !"
            cells.append(
                f"{found.distance:.1f} / {found.vehicles} / {found.gap_percent:.2f} / "
                f"{found.seconds:.1f} / {found.cpu_seconds:.1f}{flag}"
            )
        lines.append(f"| {name} | {bks.get(name, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON results and the markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="solomon", dest="instance_set")
    parser.add_argument("--instances", default="", help="comma-separated, e.g. C101,R101")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per solver run")
    parser.add_argument("--solvers", default="routekeeper,pyvrp")
    parser.add_argument("--processes", type=int, default=1,
                        help="solver processes of routekeeper and service (0: one per core)")
    parser.add_argument("--database-url",
                        help="database of the service path (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--json", type=Path, help="write raw results here")
    parser.add_argument("--merge", type=Path, action="append", default=[],
                        help="include results of an earlier --json run in the report")
    parser.add_argument("--report", type=Path, default=REPO / "docs/benchmarks/planner.md")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--notes", type=Path, help="markdown appended to the report as Notes")
    parser.add_argument("--match-service", action="store_true",
                        help="give every other solver the wall time the service's planning "
                        "job took on the same instance (run service first)")
    args = parser.parse_args(argv)

    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    service = ServicePath(args.processes, args.database_url) if "service" in solvers else None
    runners: dict[str, Callable[[SolomonInstance, float, int], Routes]] = {
        "routekeeper": routekeeper_solver(args.processes),
        **({"service": service} if service is not None else {}),
        "pyvrp": solve_pyvrp,
        "ortools": solve_ortools,
        "vroom": solve_vroom,
    }
    unknown = [s for s in solvers if s not in runners]
    if unknown:
        parser.error(f"unknown solvers: {unknown}")
    folder = args.root / args.instance_set
    wanted = {n.strip().upper() for n in args.instances.split(",") if n.strip()}
    paths = sorted(p for p in folder.glob("*.txt") if not wanted or p.stem.upper() in wanted)
    bks = read_bks(args.root / "bks_dimacs.csv")

    results: list[Result] = []
    for path in paths:
        instance = read_instance(path)
        best = bks[instance.name.upper()]
        service_s: float | None = None
        for solver in solvers:
            budget = args.budget
            if args.match_service and solver != "service" and service_s is not None:
                budget = service_s
            load = os.getloadavg()[0]
            started = time.perf_counter()
            cpu_started = time.process_time()
            routes = runners[solver](instance, budget, args.seed)
            seconds = time.perf_counter() - started
            pre_search_s = search_budget_s = float("nan")
            if solver == "service" and service is not None:
                seconds = service.last_run_s  # the planning job, not the API calls around it
                service_s = seconds
                pre_search_s = service.last_pre_search_s
                search_budget_s = service.last_search_budget_s
            cpu_seconds = time.process_time() - cpu_started
            distance, vehicles, unserved, violations = score(instance, routes)
            result = Result(
                instance=instance.name.upper(),
                problem_class=instance.problem_class,
                solver=solver,
                distance=distance,
                vehicles=vehicles,
                gap_percent=gap_percent(distance, best.distance),
                seconds=seconds,
                unserved=unserved,
                violations=violations,
                seed=args.seed,
                cpu_seconds=cpu_seconds,
                pre_search_s=pre_search_s,
                search_budget_s=search_budget_s,
                load=load,
                budget_s=budget,
            )
            results.append(result)
            trouble = f" unserved={unserved} violations={violations}"
            print(
                f"{result.instance:10} {solver:12} {distance:9.1f} {vehicles:3d} "
                f"{result.gap_percent:6.2f}% {seconds:5.1f}s cpu {cpu_seconds:5.1f}s "
                f"budget {budget:5.1f}s pre-search {pre_search_s:4.1f}s "
                f"search {search_budget_s:4.1f}s load {load:4.2f}"
                + (trouble if unserved or violations else ""),
                flush=True,
            )
    if service is not None:
        service.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    merged = list(results)
    for extra in args.merge:
        merged += [Result(**row) for row in json.loads(extra.read_text())]
    if not args.no_report:
        ran = sorted({(r.solver, r.seed) for r in merged})
        header = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "packages": versions(),
            "command": "PYTHONPATH=src .venv/bin/python "
            + shlex.join(["bench/planner.py", *(argv or sys.argv[1:])]),
            "set": f"{args.instance_set} ({len({r.instance for r in merged})} instances)",
            "budget": f"{args.budget:g} s wall clock per solver and instance, "
            f"routekeeper processes={args.processes}",
            "runs": ", ".join(f"{solver} seed {seed}" for solver, seed in ran),
        }
        table = {n: f"{b.distance:.1f} / {b.vehicles}" for n, b in bks.items()}
        args.report.parent.mkdir(parents=True, exist_ok=True)
        report = render(merged, header, table)
        if args.notes:
            report += "\n## Notes\n\n" + args.notes.read_text()
        args.report.write_text(report)
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
