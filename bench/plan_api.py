"""Benchmark a 1,000-order, 50-worker plan through the HTTP API of a running server.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, as in CI):

    PYTHONPATH=src .venv/bin/python bench/plan_api.py

For each backend (a fresh SQLite file, a fresh PostgreSQL database) it runs ``routekeeper db
upgrade`` and ``routekeeper accounts create --json``, starts ``routekeeper serve`` (API and
worker in one process, the default) on a free loopback port, creates 50 workers (homes in
Berlin, staggered 9-hour shifts covering 07:00-19:00 every day) with ``POST /workers/``,
then ``POST /orders/`` 1,000 orders for tomorrow spread over the city with 2-hour time
windows in ``scheduled`` mode, and polls ``GET /orders/plans/{id}`` until the plan leaves
``planning``. It reports the wall time from the POST to the completed plan, where it went
(from the plan's own ``created_at``/``started_at``/``completed_at``), the orders planned and
unplanned, and the memory of the serve process and of the solver processes it spawns:
``VmHWM`` of each from ``/proc/<pid>/status`` (sampled every 50 ms while they live) and the
largest sum of the tree's ``VmRSS`` and ``Pss`` seen at once. ``--topology separate`` runs
``serve --no-worker`` plus a ``routekeeper worker`` process and measures the worker instead.
The report replaces only this script's section of docs/benchmarks/plans.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from plans import DEFAULT_OUTPUT, DEFAULT_PG, LoadLog, machine, replace_section, wait_until_quiet

REPO_ROOT = Path(__file__).resolve().parent.parent
CITY = {"lon": (13.25, 13.55), "lat": (52.42, 52.60)}  # Berlin, about 20 x 20 km
# With --roads: the drivable area of the Helsinki dataset (`make roads`), about 1 x 1.6 km.
HELSINKI = {"lon": (24.9355, 24.9535), "lat": (60.1645, 60.1790)}
MIB = 1024 * 1024
SHIFT_STARTS = ("07:00", "08:00", "09:00", "10:00")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


# --------------------------------------------------------------------------- memory


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in KiB (empty when it is gone)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1])
    except (OSError, ValueError):
        return {}
    return values


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


@dataclass
class MemoryWatch:
    """Samples a process tree's memory in a thread until stopped."""

    root: int
    interval_s: float = 0.05
    hwm_kib: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    peak_rss_sum_kib: int = 0
    peak_pss_sum_kib: int = 0
    most_processes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample(with_pss=True)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.is_set():
            self.sample(with_pss=rounds % 4 == 0)
            rounds += 1
            self._stop.wait(self.interval_s)

    def sample(self, *, with_pss: bool) -> None:
        rss_sum = pss_sum = 0
        pids = tree(self.root)
        for pid in pids:
            status = _status(pid)
            if not status:
                continue
            if pid not in self.names:
                self.names[pid] = _cmdline(pid)
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), status.get("VmHWM", 0))
            rss_sum += status.get("VmRSS", 0)
            if with_pss:
                pss_sum += _pss_kib(pid)
        self.peak_rss_sum_kib = max(self.peak_rss_sum_kib, rss_sum)
        self.peak_pss_sum_kib = max(self.peak_pss_sum_kib, pss_sum)
        self.most_processes = max(self.most_processes, len(pids))


# --------------------------------------------------------------------------- the API calls


def tomorrow() -> date:
    """The UTC day after today (the plan's day; ops group ``default`` is in UTC)."""
    return datetime.now(UTC).date() + timedelta(days=1)


def worker_bodies(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Workers with homes in the city and 9-hour shifts every day, staggered 07:00-10:00."""
    bodies = []
    for number in range(count):
        start = SHIFT_STARTS[number % len(SHIFT_STARTS)]
        end = f"{int(start[:2]) + 9:02d}:00"
        bodies.append({
            "worker_handle": f"bench-worker-{number:03d}",
            "name": f"Bench Worker {number}",
            "product_types": [], "capacity": 40,
            "home": {"geometry": {"type": "Point", "coordinates": [
                round(rng.uniform(*CITY["lon"]), 6), round(rng.uniform(*CITY["lat"]), 6)]},
                "address": f"Home {number}"},
            "schedule": [{"day_of_week": d, "start_time": start, "end_time": end}
                         for d in DAYS],
        })
    return bodies


def order_bodies(count: int, day: date, rng: random.Random) -> list[dict[str, Any]]:
    """Orders over the city with 2-hour windows opening between 08:00 and 16:00."""
    bodies = []
    morning = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    for number in range(count):
        opens = morning + timedelta(minutes=15 * rng.randrange(0, 33))
        lon, lat = rng.uniform(*CITY["lon"]), rng.uniform(*CITY["lat"])
        bodies.append({
            "order_handle": f"bench-order-{number:05d}",
            "destination": {"geometry": {"type": "Point",
                                         "coordinates": [round(lon, 6), round(lat, 6)]},
                            "address": f"{number % 300 + 1} Hauptstrasse, Berlin"},
            "scheduled_after": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scheduled_at": (opens + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expected_service_time": rng.choice((120, 180, 300)),
            "metadata": {"customer": f"customer-{number % 400}"},
        })
    return bodies


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class Run:
    """One plan created through the API and what it cost."""

    backend: str
    topology: str
    budget_s: float
    orders: int
    workers: int
    post_s: float = 0.0
    wall_s: float = 0.0
    queue_s: float = 0.0
    solve_s: float = 0.0
    write_s: float = 0.0
    status: str = ""
    planned: int = 0
    unplanned: int = 0
    routes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    idle_kib: int = 0
    main_hwm_kib: int = 0
    child_hwm_kib: list[int] = field(default_factory=list)
    peak_rss_sum_kib: int = 0
    peak_pss_sum_kib: int = 0
    processes: int = 0
    load: float = 0.0


# --------------------------------------------------------------------------- processes


def _routekeeper() -> list[str]:
    script = Path(sys.executable).parent / "routekeeper"
    return [str(script)] if script.exists() else [sys.executable, "-m", "routekeeper.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def database(backend: str, args: argparse.Namespace, workdir: Path) -> Any:
    """A fresh database URL for ``backend``, removed afterwards."""
    if backend == "sqlite":
        path = workdir / f"plan_api-{time.time_ns()}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(args.pg_server.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"rk_bench_plan_api_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        with suppress(httpx.HTTPError):
            if client.get("/health").status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not become ready in 60 s")


def run_once(backend: str, args: argparse.Namespace, workdir: Path, load: LoadLog) -> Run:
    """Start a server on a fresh database, create the plan, measure it."""
    run = Run(backend, args.topology, args.budget, args.orders, args.workers)
    rng = random.Random(args.seed)
    with database(backend, args, workdir) as url:
        env = {**os.environ, "ROUTEKEEPER_DATABASE_URL": url,
               "ROUTEKEEPER_PLANNING__TIME_BUDGET_S": str(args.budget),
               **({"ROUTEKEEPER_ROUTING__DATASET": str(args.roads)} if args.roads else {}),
               "PYTHONPATH": os.pathsep.join([str(args.source.resolve()),
                                              os.environ.get("PYTHONPATH", "")])}
        subprocess.run([*_routekeeper(), "db", "upgrade"], env=env, check=True,
                       capture_output=True)
        created = subprocess.run([*_routekeeper(), "accounts", "create", "--name",
                                  "Plan API bench", "--json"], env=env, check=True,
                                 capture_output=True, text=True)
        creds = json.loads(created.stdout)
        port = _free_port()
        log = workdir / f"serve-{backend}.log"
        serve = [*_routekeeper(), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning"]
        if args.topology == "separate":
            serve.append("--no-worker")
        processes = []
        with open(log, "wb") as out:
            server = subprocess.Popen(serve, env=env, stdout=out, stderr=subprocess.STDOUT)
            processes.append(server)
            worker = None
            if args.topology == "separate":
                worker = subprocess.Popen([*_routekeeper(), "worker"], env=env, stdout=out,
                                          stderr=subprocess.STDOUT)
                processes.append(worker)
            measured = worker or server
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                  auth=(creds["account_id"], creds["secret_key"])) as client:
                    _wait_ready(client, server, log)
                    _plan(client, run, rng, measured, args, load)
            finally:
                for process in reversed(processes):
                    _stop(process)
        if args.keep_logs:
            print(log.read_text()[-5000:], flush=True)
    return run


def _plan(client: httpx.Client, run: Run, rng: random.Random,
          measured: subprocess.Popen[bytes], args: argparse.Namespace, load: LoadLog) -> None:
    for body in worker_bodies(args.workers, rng):
        response = client.post("/workers/", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST /workers/: {response.status_code} {response.text[:500]}")
    orders = order_bodies(args.orders, tomorrow(), rng)
    time.sleep(1.0)  # let the worker settle after start-up
    run.idle_kib = _status(measured.pid).get("VmRSS", 0)
    watch = MemoryWatch(measured.pid)
    watch.start()
    started = time.time()
    response = client.post("/orders/", json={"orders": orders, "plan_mode": "scheduled"})
    run.post_s = time.time() - started
    if response.status_code != 201:
        raise RuntimeError(f"POST /orders/: {response.status_code} {response.text[:500]}")
    plan_id = response.json()["plan"]["id"]
    deadline = started + args.budget + 600
    plan: dict[str, Any] = {}
    polls = 0
    while time.time() < deadline:
        plan = client.get(f"/orders/plans/{plan_id}").json()
        if plan["status"] != "planning":
            break
        polls += 1
        if polls % 12 == 0:
            load.sample()  # what else runs meanwhile (ps takes a few ms)
        time.sleep(args.poll)
    run.wall_s = time.time() - started
    watch.stop()
    run.load = os.getloadavg()[0]
    run.status = plan["status"]
    created_at = _parse_ts(plan.get("created_at"))
    begun = _parse_ts(plan.get("started_at"))
    written = _parse_ts(plan.get("completed_at"))
    post_end = started + run.post_s
    if begun is not None:
        run.queue_s = begun.timestamp() - post_end
    if begun is not None and written is not None:
        run.solve_s = written.timestamp() - begun.timestamp()
        run.write_s = started + run.wall_s - written.timestamp()
    del created_at
    summary = plan.get("summary") or {}
    run.planned = summary.get("orders", {}).get("planned", 0)
    run.unplanned = summary.get("orders", {}).get("unplanned", 0)
    run.routes = summary.get("routes", 0)
    for order in plan.get("unplanned_orders", []):
        reason = order.get("planning_failure_reason") or "(none)"
        run.reasons[reason] = run.reasons.get(reason, 0) + 1
    run.main_hwm_kib = watch.hwm_kib.get(measured.pid, 0)
    run.child_hwm_kib = sorted((kib for pid, kib in watch.hwm_kib.items()
                                if pid != measured.pid), reverse=True)
    run.peak_rss_sum_kib = watch.peak_rss_sum_kib
    run.peak_pss_sum_kib = watch.peak_pss_sum_kib
    run.processes = watch.most_processes
    for pid, name in sorted(watch.names.items()):
        print(f"  pid {pid}: VmHWM {watch.hwm_kib.get(pid, 0) / 1024:.0f} MiB  {name[:120]}",
              flush=True)


# --------------------------------------------------------------------------- report


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def render(args: argparse.Namespace, runs: list[Run], load: LoadLog, command: str) -> str:
    """This script's section of the Markdown report."""
    info = machine()
    measured = "the `routekeeper worker` process" if args.topology == "separate" else \
        "the `routekeeper serve` process (API and worker)"
    layout = "with `--no-worker`, next to a `routekeeper worker` process" \
        if args.topology == "separate" else "API and job worker in one process, the default"
    explanation = [
        f"Per backend: a fresh database, `routekeeper db upgrade`, `routekeeper accounts create "
        f"--json`, then `routekeeper serve` on a free loopback port "
        f"({layout}; "
        f"`ROUTEKEEPER_PLANNING__TIME_BUDGET_S={args.budget:g}`, every other setting at its "
        f"default, so the solver runs one process per core). Over HTTP (httpx): "
        f"{args.workers} `POST /workers/` (homes spread over a 20 x 20 km box of Berlin, "
        "capacity 40, 9-hour shifts every day starting at 07:00, 08:00, 09:00 or 10:00), "
        f"then one `POST /orders/` of {args.orders:,} orders for tomorrow in `scheduled` mode "
        "(uniform over the same box, 2-hour windows opening between 08:00 and 16:00, "
        "2-5 minutes of service), then `GET /orders/plans/{id}` every "
        f"{args.poll:g} s until the plan leaves `planning`.", "",
        "*Wall* is from just before the POST to the first GET that saw the plan done (target: "
        "the time budget + 5 s). It splits, by the plan's own timestamps, into the POST itself "
        "(storing the orders and queueing the run), *queue* (until the worker started the run; "
        "the worker polls every 0.5 s), *read + solve* (`started_at` to `completed_at`, which "
        "the writer stamps when it starts) and *write + poll* (writing routes, estimates, "
        "events, then the next GET). Memory is of "
        f"{measured} and the processes it starts (the spawned solver processes and "
        "multiprocessing's resource tracker): *idle* is its RSS before the POST, *VmHWM* its "
        "peak from `/proc/<pid>/status`, *children* the peak of each child (sampled every "
        "50 ms while it lived), and *tree RSS* / *tree PSS* the largest sum over the whole "
        "tree seen at once (RSS counts pages shared between processes once per process, PSS "
        "splits them; the target, under 1 GiB, is read against tree RSS).", "",
    ]
    if args.label:
        explanation = ["Same setup, columns and targets as the unlabelled section, on the code "
                       "that `--source` names.", ""]
    if args.roads:
        explanation = [
            "Same setup, columns and targets as the first section, on road times: the server "
            f"runs with `ROUTEKEEPER_ROUTING__DATASET={args.roads}` (the Helsinki dataset of "
            "`make roads`), so it starts osrm-routed as its child (counted in the memory "
            "columns) and plans on OSRM's table through the road model. Homes and orders are "
            "uniform over the dataset's drivable area of central Helsinki (about 1 x 1.6 km) "
            "instead of Berlin, addresses and windows otherwise as above. *read + solve* now "
            "includes the 1,050 x 1,050 road matrix; the writer's estimates and polylines "
            "(one OSRM route request per route) are in *write + poll*.", ""]
    lines = [
        "## A 1,000-order plan through the HTTP API (`bench/plan_api.py`)"
        + (f": {args.label}" if args.label else ""), "",
        f"Generated by `bench/plan_api.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
        "### Machine", "",
        f"- CPU: {info['cpu']}", f"- Cores: {info['cores']}", f"- RAM: {info['ram']}",
        f"- OS: {info['os']}", f"- Python: {info['python']}",
        f"- Other load: {load.describe()}.", "",
        "### Command", "", "```sh", command, "```", "",
        "### What runs", "",
        *explanation,
        "| run | backend | budget s | POST s | queue s | read + solve s | write + poll s "
        "| wall s | status | planned | unplanned | routes | idle MiB | VmHWM MiB "
        "| children VmHWM MiB | tree RSS MiB | tree PSS MiB | load |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for index, run in enumerate(runs, 1):
        children = ", ".join(_mib(k) for k in run.child_hwm_kib) or "-"
        lines.append(
            f"| {index} | {run.backend} | {run.budget_s:g} | {run.post_s:.1f} | "
            f"{run.queue_s:.1f} | "
            f"{run.solve_s:.1f} | {run.write_s:.1f} | **{run.wall_s:.1f}** | {run.status} | "
            f"{run.planned:,} | {run.unplanned:,} | {run.routes} | {_mib(run.idle_kib)} | "
            f"{_mib(run.main_hwm_kib)} | {children} | **{_mib(run.peak_rss_sum_kib)}** | "
            f"{_mib(run.peak_pss_sum_kib)} | {run.load:.1f} |")
    reasons = [f"{run.backend} run {index}: " + "; ".join(
        f"{count} x {reason}" for reason, count in sorted(run.reasons.items(),
                                                          key=lambda kv: -kv[1]))
        for index, run in enumerate(runs, 1) if run.reasons]
    lines += ["", "Unplanned orders by reason:" + (" none in any run." if not reasons else ""),
              *(f"- {line}" for line in reasons)]
    lines += ["", "Targets, per backend over its runs (wall: under the budget + 5 s; memory: "
              "tree RSS under 1 GiB):", ""]
    for backend in dict.fromkeys(run.backend for run in runs):
        mine = [run for run in runs if run.backend == backend]
        walls = [run.wall_s for run in mine]
        peaks = [run.peak_rss_sum_kib for run in mine]
        limit = mine[0].budget_s + 5
        met = sum(wall <= limit for wall in walls)
        verdict = "met" if met == len(walls) else "not met" if met == 0 else \
            f"met in {met} of {len(walls)} runs"
        lines.append(
            f"- {backend}: wall median {statistics.median(walls):.1f} s "
            f"({', '.join(f'{w:.1f}' for w in walls)}) against {limit:g} s: **{verdict}**"
            f"; peak memory {_mib(max(peaks))} MiB at most: "
            f"**{'met' if max(peaks) < 1024 * 1024 else 'not met'}**.")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, run each backend, write the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--topology", choices=("inline", "separate"), default="inline")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--budget", type=float, default=10.0, help="planning time budget, s")
    parser.add_argument("--poll", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-server", default=DEFAULT_PG)
    parser.add_argument("--max-wait", type=float, default=3600.0,
                        help="seconds to wait for other benchmarks before timing anyway")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--label", default="",
                        help="a separate report section, e.g. 'before' (with --source)")
    parser.add_argument("--keep-logs", action="store_true", help="print the server's log")
    parser.add_argument("--roads", type=Path, default=None,
                        help="plan on this road dataset (e.g. var/roads/helsinki-car) in Helsinki")
    parser.add_argument("--source", type=Path, default=REPO_ROOT / "src",
                        help="run routekeeper from this src directory (to compare versions)")
    args = parser.parse_args()
    if args.roads:
        CITY.update(HELSINKI)
        args.label = args.label or "on road times (Helsinki)"
    command = " ".join(["PYTHONPATH=src .venv/bin/python bench/plan_api.py",
                        *(shlex.quote(a) for a in sys.argv[1:])])
    load = LoadLog()
    runs = []
    with tempfile.TemporaryDirectory(prefix="rk-plan-api-") as tmp:
        for _ in range(args.repeat):
            for backend in args.backends.split(","):
                waited, _running = wait_until_quiet(args.max_wait)
                load.waited_s += waited
                load.sample()
                run = run_once(backend, args, Path(tmp), load)
                load.sample()
                runs.append(run)
                print(f"{backend}: {run.status} in {run.wall_s:.1f} s (POST {run.post_s:.1f}, "
                      f"queue {run.queue_s:.1f}, read+solve {run.solve_s:.1f}, write+poll "
                      f"{run.write_s:.1f}); planned {run.planned}, unplanned {run.unplanned}, "
                      f"routes {run.routes}; VmHWM {_mib(run.main_hwm_kib)} MiB, children "
                      f"{[_mib(k) for k in run.child_hwm_kib]}, tree RSS "
                      f"{_mib(run.peak_rss_sum_kib)} MiB, PSS {_mib(run.peak_pss_sum_kib)} MiB",
                      flush=True)
    print(load.describe(), flush=True)
    if not args.no_report:
        section = "bench/plan_api.py" + (f" ({args.label})" if args.label else "")
        replace_section(args.output, section, render(args, runs, load, command),
                        "Plans benchmark")
        print(f"wrote {args.output}", flush=True)


if __name__ == "__main__":
    main()
