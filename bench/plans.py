"""Benchmark ``GET /orders/plans`` with summaries and write its part of docs/benchmarks/plans.md.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, as in CI):

    PYTHONPATH=src .venv/bin/python bench/plans.py

On a fresh PostgreSQL database (created here and dropped at the end) migrated with
``routekeeper.db.migrate.upgrade``, one account gets 10,000 plans over 10 ops groups and
1,000 days, each with 2-5 routes and 10-40 orders (estimates, actuals on finished orders,
some completed, cancelled and unplanned), bulk-inserted with COPY (not through the API).
Then ``GET /orders/plans?include_summary=true&limit=50`` is timed through the real app
(``create_app`` in this process, driven by starlette's ``TestClient``, so no socket and no
uvicorn) for page 1 and for page 100 (reached by following the pagination tokens), the two
interleaved, and every SQL statement of one page-100 request is shown with
``EXPLAIN (ANALYZE, BUFFERS)``. The report replaces only this script's section of the
Markdown file; ``bench/plan_api.py`` owns another and hand-written notes are kept.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "plans.md"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
# Fixed calendar so the data are reproducible: plans for the days up to LAST_DAY, of which
# the ones after TODAY are not driven yet.
LAST_DAY = date(2026, 11, 30)
TODAY = date(2026, 11, 27)
CITY = {"lon": (13.25, 13.55), "lat": (52.42, 52.60)}  # Berlin, inside the Ring and around
# Other engineers' benchmarks that load the 2 cores enough to distort a timed run.
HEAVY_BENCHMARKS = ("planner.py", "ingest.py", "export.py", "solomon.py", "baselines.py",
                    "travel.py", "plans.py", "plan_api.py")


# --------------------------------------------------------------------------- machine, load


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS and Python of this machine."""
    cpu = platform.processor() or "unknown"
    ram = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": f"{usable} usable of {os.cpu_count()} logical", "ram": ram,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}


def _own_pids() -> set[int]:
    pids = {os.getpid(), os.getppid()}
    try:
        children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
        pids.update(int(p) for p in children.split())
    except OSError:
        pass
    return pids


def other_benchmarks(*, with_tests: bool = False) -> list[str]:
    """Command lines of other processes running a heavy ``bench/`` script (and, with
    ``with_tests``, test suites, which are not waited for but worth reporting)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    mine = _own_pids()
    found = []
    for line in out.splitlines():
        pid_text, _, args = line.strip().partition(" ")
        if int(pid_text) in mine or args.startswith("timeout "):
            continue
        heavy = "bench/" in args and any(f"bench/{name}" in args for name in HEAVY_BENCHMARKS)
        if heavy or (with_tests and "bin/pytest" in args):
            found.append(args.strip()[:140])
    return found


def wait_until_quiet(max_wait_s: float, poll_s: float = 15.0) -> tuple[float, list[str]]:
    """Poll until no other heavy benchmark runs (or ``max_wait_s`` passes).

    Returns the seconds waited and what was still running when the wait ended.
    """
    started = time.monotonic()
    announced = False
    while True:
        running = other_benchmarks()
        waited = time.monotonic() - started
        if not running or waited >= max_wait_s:
            return waited, running
        if not announced:
            print("waiting for other benchmarks to finish:\n  " + "\n  ".join(running),
                  flush=True)
            announced = True
        time.sleep(poll_s)


@dataclass
class LoadLog:
    """What else ran while this benchmark was being timed."""

    waited_s: float = 0.0
    seen: set[str] = field(default_factory=set)
    loads: list[float] = field(default_factory=list)

    def sample(self) -> None:
        self.seen.update(other_benchmarks(with_tests=True))
        self.loads.append(os.getloadavg()[0])

    def describe(self) -> str:
        others = "; ".join(f"`{s}`" for s in sorted(self.seen)) or "no other benchmark"
        load = (f"1-minute load average {min(self.loads):.1f}-{max(self.loads):.1f}"
                if self.loads else "load not sampled")
        return (f"waited {self.waited_s:.0f} s for other benchmarks before timing; during the "
                f"timed runs: {others}; {load} on this machine")


def replace_section(path: Path, name: str, body: str, title: str) -> None:
    """Put ``body`` between this script's markers in ``path``, keeping everything else."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"# {title}\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else (
        text.rstrip() + "\n\n" + block + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation between closest ranks)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------- data


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return _ts(value)
    text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) \
        else str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


PLAN_COLUMNS = ("account_id", "plan_id", "ops_group_handle", "fulfillment_date", "status",
                "sequence_number", "plan_mode", "failure_reason", "created_at", "updated_at",
                "started_at", "completed_at")
ROUTE_COLUMNS = ("account_id", "route_handle", "status", "version", "ops_group_handle",
                 "track_mode", "plan_mode", "plan_id", "worker_handle", "device_id", "metadata",
                 "estimate", "start_by", "completion_type", "distance", "duration", "polyline",
                 "start_location", "end_location", "created_by", "scheduled_start_at",
                 "created_at", "updated_at", "planned_at", "assigned_at", "started_at",
                 "completed_at")
ORDER_COLUMNS = ("account_id", "id", "order_handle", "fulfillment_attempt", "type", "type_index",
                 "status", "destination", "destination_lon", "destination_lat",
                 "ops_group_handle", "plan_mode", "plan_id", "route_handle", "route_sequence",
                 "planning_failure_reason", "worker_handle", "device_id", "scheduled_after",
                 "scheduled_at", "expected_service_time", "capacity_used", "product_type",
                 "metadata", "attachments", "risk_status", "estimate", "distance", "duration",
                 "previous_fulfillments", "timezone", "tracking_id", "created_at", "updated_at",
                 "planned_at", "assigned_at", "completed_at", "cancelled_at")
GROUP_COLUMNS = ("account_id", "ops_group_handle", "name", "timezone", "route_start_location",
                 "route_completion_type", "objective_fn", "created_at", "updated_at")


@dataclass
class Counts:
    """Rows generated."""

    plans: int = 0
    routes: int = 0
    orders: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


class Generator:
    """Reproducible plans with routes and orders for one account."""

    def __init__(self, account_id: str, plans: int, groups: int, seed: int) -> None:
        self.account_id = account_id
        self.plans = plans
        self.groups = [f"group-{g:02d}" for g in range(groups)]
        self.days = -(-plans // groups)
        self.rng = random.Random(seed)
        self.counts = Counts()
        self._order_seq = 0

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def group_rows(self) -> Iterator[dict[str, Any]]:
        created = datetime.combine(LAST_DAY - timedelta(days=self.days + 30),
                                   datetime.min.time(), tzinfo=UTC)
        for handle in self.groups:
            yield {"account_id": self.account_id, "ops_group_handle": handle, "name": handle,
                   "timezone": "UTC", "route_start_location": "worker_home",
                   "route_completion_type": "end_at_last_order",
                   "objective_fn": "minimise_time", "created_at": created,
                   "updated_at": created}

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(table, row)`` for every plan, route and order, plans oldest first."""
        for index in range(self.plans):
            group = self.groups[index % len(self.groups)]
            day = LAST_DAY - timedelta(days=self.days - 1 - index // len(self.groups))
            yield from self._plan(group, day)

    def _plan(self, group: str, day: date) -> Iterator[tuple[str, dict[str, Any]]]:
        rng = self.rng
        # Orders come in the afternoon before; the plan is made then and solved minutes later.
        created = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=UTC) \
            + timedelta(hours=12, seconds=rng.randrange(6 * 3600), microseconds=rng.randrange(
                1_000_000))
        solved = created + timedelta(seconds=rng.randrange(20, 600))
        past = day < TODAY
        failed = rng.random() < 0.01
        planning = day == LAST_DAY and rng.random() < 0.5
        status = "failed" if failed else "planning" if planning else "completed"
        plan_id = self._uuid()
        yield "plan", {
            "account_id": self.account_id, "plan_id": plan_id, "ops_group_handle": group,
            "fulfillment_date": day.isoformat(), "status": status,
            "sequence_number": rng.randint(1, 3), "plan_mode": "scheduled",
            "failure_reason": "No Workers Available" if failed else None,
            "created_at": created, "updated_at": solved, "started_at": created,
            "completed_at": None if planning else solved,
        }
        self.counts.plans += 1
        self.counts.statuses[status] = self.counts.statuses.get(status, 0) + 1
        num_routes = 0 if failed or planning else rng.randint(2, 5)
        num_orders = rng.randint(10, 40)
        shift_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
        routes: list[dict[str, Any]] = []
        for number in range(num_routes):
            routes.append({"handle": self._uuid(), "worker": f"{group}-worker-{number:02d}",
                           "orders": []})
        orders: list[dict[str, Any]] = []
        for _ in range(num_orders):
            lon = rng.uniform(*CITY["lon"])
            lat = rng.uniform(*CITY["lat"])
            after = shift_start + timedelta(minutes=rng.randrange(0, 7 * 60, 15))
            orders.append({"lon": lon, "lat": lat, "after": after,
                           "at": after + timedelta(hours=rng.choice((1, 2, 3)))})
            if routes and rng.random() >= 0.05:
                routes[rng.randrange(num_routes)]["orders"].append(orders[-1])
        for route in routes:
            yield from self._route(plan_id, group, route, shift_start, solved, past)
        for order in orders:
            if "route" not in order:
                yield "order", self._order(plan_id, group, order, None, created, solved, past)

    def _route(self, plan_id: str, group: str, route: dict[str, Any], shift_start: datetime,
               solved: datetime, past: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        rng = self.rng
        home = (rng.uniform(*CITY["lon"]), rng.uniform(*CITY["lat"]))
        stops = sorted(route["orders"], key=lambda o: o["after"])
        points = [home] + [(o["lon"], o["lat"]) for o in stops]
        leg_m = [int(2_000 + rng.random() * 6_000) for _ in stops]
        clock = shift_start
        for sequence, (order, metres) in enumerate(zip(stops, leg_m, strict=True)):
            seconds = int(metres / 8.3)
            clock = max(clock + timedelta(seconds=seconds), order["after"])
            order["route"] = {"handle": route["handle"], "sequence": sequence,
                              "worker": route["worker"], "arrive": clock, "leg_m": metres,
                              "leg_s": seconds}
            clock += timedelta(minutes=5)
        distance, duration = sum(leg_m), int((clock - shift_start).total_seconds())
        # A driven route keeps its tracked path: a point every ~150 m of the drive.
        track = [(points[0][0] + (points[-1][0] - points[0][0]) * k / 99,
                  points[0][1] + (points[-1][1] - points[0][1]) * k / 99) for k in range(100)]
        worker = route["worker"]
        yield "route", {
            "account_id": self.account_id, "route_handle": route["handle"],
            "status": "completed" if past else "assigned", "version": 3,
            "ops_group_handle": group, "track_mode": "on_time" if past else None,
            "plan_mode": "scheduled", "plan_id": plan_id, "worker_handle": worker,
            "device_id": f"device-{worker}", "metadata": {},
            "estimate": {
                "start_by": _ts(shift_start), "distance": distance, "duration": duration,
                "polyline": {"type": "LineString",
                             "coordinates": [[round(p[0], 6), round(p[1], 6)] for p in points]},
                "start_location": _point(*points[0]), "end_location": _point(*points[-1]),
            },
            "start_by": shift_start, "completion_type": "end_at_last_order",
            "distance": int(distance * 1.07) if past else None,
            "duration": int(duration * 1.1) if past else None,
            "polyline": {"type": "LineString",
                         "coordinates": [[round(p[0], 6), round(p[1], 6)] for p in track]}
            if past else None,
            "start_location": _point(*points[0]) if past else None,
            "end_location": _point(*points[-1]) if past else None,
            "created_by": {"source": "api", "timestamp": _ts(solved)},
            "scheduled_start_at": shift_start, "created_at": solved, "updated_at": solved,
            "planned_at": solved, "assigned_at": solved,
            "started_at": shift_start if past else None,
            "completed_at": clock if past else None,
        }
        self.counts.routes += 1
        for order in stops:
            yield "order", self._order(plan_id, group, order, route, solved, solved, past)

    def _order(self, plan_id: str, group: str, spec: dict[str, Any],
               route: dict[str, Any] | None, created: datetime, solved: datetime,
               past: bool) -> dict[str, Any]:
        rng = self.rng
        self._order_seq += 1
        on_route = spec.get("route") if route is not None else None
        status = "unplanned"
        if on_route is not None:
            roll = rng.random()
            status = ("completed" if roll < 0.92 else "cancelled") if past else "assigned"
        finished = status in ("completed", "cancelled")
        arrive = on_route["arrive"] if on_route else None
        self.counts.orders += 1
        return {
            "account_id": self.account_id, "id": self._uuid(),
            "order_handle": f"order-{self._order_seq:08d}", "fulfillment_attempt": 0,
            "type": "drop", "type_index": 0, "status": status,
            "destination": {"geometry": _point(spec["lon"], spec["lat"]), "radius": 50,
                            "address": f"{self._order_seq % 300 + 1} Hauptstrasse, Berlin"},
            "destination_lon": round(spec["lon"], 6), "destination_lat": round(spec["lat"], 6),
            "ops_group_handle": group, "plan_mode": "scheduled", "plan_id": plan_id,
            "route_handle": on_route["handle"] if on_route else None,
            "route_sequence": on_route["sequence"] if on_route else None,
            "planning_failure_reason": None if on_route else (
                "The Order's time window cannot be met."),
            "worker_handle": on_route["worker"] if on_route else None,
            "device_id": f"device-{on_route['worker']}" if on_route else None,
            "scheduled_after": spec["after"], "scheduled_at": spec["at"],
            "expected_service_time": 300, "capacity_used": 1, "product_type": [],
            "metadata": {"customer": f"customer-{self._order_seq % 5000}"}, "attachments": [],
            "risk_status": False,
            "estimate": {"start_by": _ts(solved), "arrive_at": _ts(arrive),
                         "initial_arrive_at": _ts(arrive), "distance": on_route["leg_m"],
                         "duration": on_route["leg_s"]} if on_route and arrive else None,
            "distance": int(on_route["leg_m"] * 1.05) if on_route and finished else None,
            "duration": int(on_route["leg_s"] * 1.1) if on_route and finished else None,
            "previous_fulfillments": [], "timezone": "UTC",
            "tracking_id": f"tr{self._order_seq:010d}",
            "created_at": created, "updated_at": arrive if finished and arrive else solved,
            "planned_at": solved if on_route else None,
            "assigned_at": solved if on_route else None,
            "completed_at": arrive if status == "completed" else None,
            "cancelled_at": arrive if status == "cancelled" else None,
        }


class _CopyBuffer:
    """Rows of one table in COPY text format, flushed in chunks."""

    def __init__(self, cursor: Any, table: str, columns: tuple[str, ...]) -> None:
        self.cursor, self.table, self.columns = cursor, table, columns
        self.buffer = io.StringIO()
        self.rows = 0

    def add(self, row: dict[str, Any]) -> None:
        self.buffer.write("\t".join(_copy_text(row[c]) for c in self.columns))
        self.buffer.write("\n")
        self.rows += 1
        if self.rows % 20_000 == 0:
            self.flush()

    def flush(self) -> None:
        data = self.buffer.getvalue()
        if not data:
            return
        columns = ", ".join(f'"{c}"' for c in self.columns)
        with self.cursor.copy(f'COPY "{self.table}" ({columns}) FROM STDIN') as copy:
            copy.write(data)
        self.buffer = io.StringIO()


def insert(url: str, generator: Generator) -> float:
    """COPY every generated row into the database; returns the seconds taken."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            groups = _CopyBuffer(cur, "ops_group", GROUP_COLUMNS)
            for row in generator.group_rows():
                groups.add(row)
            groups.flush()
            buffers = {"plan": _CopyBuffer(cur, "plan", PLAN_COLUMNS),
                       "route": _CopyBuffer(cur, "route", ROUTE_COLUMNS),
                       "order": _CopyBuffer(cur, "order", ORDER_COLUMNS)}
            for table, row in generator.rows():
                buffers[table].add(row)
            for buffer in buffers.values():
                buffer.flush()
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


# --------------------------------------------------------------------------- timing


@dataclass
class Sample:
    """One timed request."""

    seconds: float
    sql_seconds: float
    statements: int
    cpu_seconds: float = 0.0


@dataclass
class SqlLog:
    """Statements the app's engine runs (and how long the driver took), when recording."""

    seconds: float = 0.0
    statements: list[tuple[str, Any]] = field(default_factory=list)
    _started: float = 0.0

    def attach(self, engine: Any) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            self.statements.append((statement, parameters))
            self._started = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(*_: Any) -> None:
            self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.seconds = 0.0
        self.statements = []


def _get(client: Any, sql: SqlLog, url: str, limit: int) -> tuple[Sample, dict[str, Any]]:
    sql.reset()
    cpu = time.process_time()
    started = time.perf_counter()
    response = client.get(url)
    seconds = time.perf_counter() - started
    # CPU time of this process (the app runs in TestClient's thread here): what the request
    # costs whatever else loads the machine's cores.
    cpu_seconds = time.process_time() - cpu
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:500]}")
    data: dict[str, Any] = response.json()
    if len(data["plans"]) != limit or any("summary" not in p for p in data["plans"]):
        raise RuntimeError(f"GET {url}: expected {limit} plans with summaries")
    # Every route in full, as the contract's example shows plans: its planned estimate with
    # the polyline, and its orders with their destinations.
    routes = [r for p in data["plans"] for r in p["routes"]]
    if not routes or any("orders" not in r or "embed_url" not in r for r in routes) \
            or not any(r["orders"] and "destination" in r["orders"][0] for r in routes) \
            or not any((r.get("estimate") or {}).get("polyline") for r in routes):
        raise RuntimeError(f"GET {url}: expected full routes with estimates and orders")
    return Sample(seconds, sql.seconds, len(sql.statements), cpu_seconds), data


@dataclass
class Timing:
    """The timed requests of both pages and the statements of one page-100 request."""

    page1: list[Sample]
    deep: list[Sample]
    deep_statements: list[tuple[str, Any]]
    first_plan_deep: str
    response_bytes: int


def time_pages(url: str, account_id: str, secret: str, args: argparse.Namespace,
               load: LoadLog) -> Timing:
    """Drive the real app in-process and time page 1 and page ``args.page``."""
    from starlette.testclient import TestClient

    from routekeeper.app import create_app
    from routekeeper.settings import DatabaseSettings, Settings

    settings = Settings(_env_file=None).model_copy(
        update={"database": DatabaseSettings(url=url)})
    app = create_app(settings, run_worker=False)
    sql = SqlLog()
    sql.attach(app.state.db.engine)
    base = f"/orders/plans?include_summary=true&limit={args.limit}"
    with TestClient(app, base_url="http://bench") as client:
        client.auth = (account_id, secret)
        token: str | None = None
        for _ in range(args.page - 1):
            _, data = _get(client, sql, base + (f"&pagination_token={token}" if token else ""),
                           args.limit)
            token = data["pagination_token"]
            if not token:
                raise RuntimeError(f"fewer than {args.page} pages")
        deep_url = f"{base}&pagination_token={token}"
        for _ in range(args.warmup):
            _get(client, sql, base, args.limit)
            _get(client, sql, deep_url, args.limit)
        page1: list[Sample] = []
        deep: list[Sample] = []
        load.sample()
        for index in range(args.requests):
            # Interleaved, so a burst of load elsewhere hits both pages alike.
            order = ((base, page1), (deep_url, deep)) if index % 2 == 0 else (
                (deep_url, deep), (base, page1))
            for target, samples in order:
                sample, _ = _get(client, sql, target, args.limit)
                samples.append(sample)
            if index % 10 == 9:
                load.sample()
        _, data = _get(client, sql, deep_url, args.limit)
        statements = list(sql.statements)
        size = len(client.get(deep_url).content)
    return Timing(page1, deep, statements, data["plans"][0]["plan_id"], size)


def _label(statement: str) -> str:
    text = " ".join(statement.split()).lower()
    if "from account" in text:
        return "authentication (account by id)"
    if "from plan" in text:
        return "the keyset page of plans"
    if "from route" in text:
        return "summaries: routes grouped by plan" if "group by" in text else \
            "routes of the page's plans"
    if 'from "order"' in text:
        if "group by" in text:
            return "summaries: orders grouped by plan"
        by_route = ("route_handle in" in text or "route_handle = any" in text
                    or "join unnest(" in text)
        return "orders of the page's routes" if by_route else \
            "unplanned orders of the page's plans (for `unplanned_orders`)"
    return "other"


_LONG_ARRAY = re.compile(r"'\{([^}']{120,})\}'")


def _shorten(plan: str) -> str:
    """Replace long array literals (the page's plan ids) by their length."""
    return _LONG_ARRAY.sub(lambda m: f"'{{...{m.group(1).count(',') + 1} values...}}'", plan)


def explain(url: str, statements: list[tuple[str, Any]]) -> list[tuple[str, str, str]]:
    """``(label, sql, EXPLAIN (ANALYZE, BUFFERS))`` of each statement (the second, warm run)."""
    import psycopg

    explained = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for statement, parameters in statements:
            if not statement.lstrip().lower().startswith("select"):
                continue
            text = ""
            for _ in range(2):
                rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}",
                                    parameters).fetchall()
                text = _shorten("\n".join(r[0] for r in rows))
            explained.append((_label(statement), " ".join(statement.split()), text))
        conn.rollback()
    return explained


# --------------------------------------------------------------------------- report


def _ms(values: Iterable[float]) -> list[float]:
    return [v * 1e3 for v in values]


def render(args: argparse.Namespace, counts: Counts, insert_s: float, timing: Timing,
           explained: list[tuple[str, str, str]], load: LoadLog, command: str) -> str:
    """This script's section of the Markdown report."""
    info = machine()
    rows = []
    verdict = []
    medians = {}
    for name, samples in (("page 1", timing.page1), (f"page {args.page}", timing.deep)):
        total = _ms(s.seconds for s in samples)
        in_sql = _ms(s.sql_seconds for s in samples)
        medians[name] = statistics.median(total)
        cpu = _ms(s.cpu_seconds for s in samples)
        rows.append(f"| {name} | {len(samples)} | {statistics.median(total):.1f} | "
                    f"{quantile(total, 0.95):.1f} | {min(total):.1f} | {max(total):.1f} | "
                    f"{statistics.median(in_sql):.1f} | {statistics.median(cpu):.1f} | "
                    f"{samples[0].statements} |")
    first, deep = medians["page 1"], medians[f"page {args.page}"]
    verdict.append(f"- Median under 100 ms for a page of {args.limit} plans with summaries "
                   "and full routes (estimates, orders): "
                   f"**{'met' if max(first, deep) < 100 else 'not met'}** (page 1 "
                   f"{first:.1f} ms, page {args.page} {deep:.1f} ms).")
    ratio = deep / first
    verdict.append(f"- Page {args.page} costs the same as page 1: "
                   f"**{'met' if ratio < 1.25 else 'not met'}** (ratio of medians "
                   f"{ratio:.2f}; counted as the same within 25 %).")
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.statuses.items()))
    data = [
        f"A fresh PostgreSQL database (`CREATE DATABASE`, `routekeeper.db.migrate.upgrade`, "
        f"dropped afterwards) with one account: {counts.plans:,} plans ({statuses}) over "
        f"{args.groups} ops groups and {-(-args.plans // args.groups):,} days, "
        f"{counts.routes:,} routes (2-5 per plan; estimates with their stop polyline, "
        f"driven ones with a 100-point tracked polyline) and {counts.orders:,} orders "
        f"(10-40 per plan; about 5 % unplanned with a reason, on past days 92 % of the "
        f"routed ones completed and 8 % cancelled, with actual distance and duration). "
        + (f"Bulk-inserted with COPY then `VACUUM ANALYZE` in {insert_s:.0f} s." if
         insert_s == insert_s else "(A database kept from an earlier run, reused.)"), "",
    ]
    results = [
        f"`GET /orders/plans?include_summary=true&limit={args.limit}` through the real app "
        "(`create_app(settings, run_worker=False)` in this process, requests sent by "
        "starlette's `TestClient`: the whole ASGI stack, authentication and JSON "
        "serialisation, without a socket or uvicorn). Page "
        f"{args.page} was reached by following the pagination tokens, then its token was "
        f"requested again and again. After {args.warmup} warm-up requests of each, "
        f"{args.requests} requests of each page were timed, alternating between the two. "
        "*SQL ms* is the time spent inside the driver's `execute` (as SQLAlchemy's cursor "
        "events see it), *statements* the number of SQL statements per request (the pool's "
        "pre-ping and the transaction's BEGIN/ROLLBACK not counted), *CPU ms* the CPU time "
        "this process spent on the request (app and client; independent of what else "
        f"loads the machine, unlike the wall-clock columns). A page-{args.page} "
        f"response is {timing.response_bytes:,} bytes.", "",
    ]
    if args.label:
        data = [f"The same data as the unlabelled section ({counts.plans:,} plans, "
                f"{counts.routes:,} routes, {counts.orders:,} orders), in a database of "
                "its own.", ""]
        results = ["The same requests and columns as the unlabelled section, on the code "
                   "that `--source` names.", ""]
    lines = [
        "## Listing plans with summaries (`bench/plans.py`)"
        + (f": {args.label}" if args.label else ""), "",
        f"Generated by `bench/plans.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
        "### Machine", "",
        f"- CPU: {info['cpu']}", f"- Cores: {info['cores']}", f"- RAM: {info['ram']}",
        f"- OS: {info['os']}", f"- Python: {info['python']}",
        f"- Other load: {load.describe()}.", "",
        "### Command", "", "```sh", command, "```", "",
        "### Data", "",
        *data,
        "### Results", "",
        *results,
        "| page | requests | median ms | p95 ms | min ms | max ms | SQL ms (median) "
        "| CPU ms (median) | statements |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows, "",
        "Targets:", "", *verdict, "",
        f"### EXPLAIN (ANALYZE, BUFFERS) of a page-{args.page} request", "",
        f"Every SELECT of one page-{args.page} request as the app sent it (same SQL, same "
        "parameters), each explained twice and the second (warm) run shown.", "",
    ]
    for label, sql, plan in explained:
        shown = sql if len(sql) <= 700 else sql[:700] + " ..."
        lines += [f"#### {label}", "", "```sql", shown, "```", "", "```", plan, "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


@contextmanager
def fresh_database(server_url: str, keep: bool) -> Iterator[str]:
    """Create a database on the server, yield its URL, drop it afterwards unless ``keep``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    # Prefixed with whoever runs it (a shared server: one prefix per engineer).
    name = f"{os.environ.get('RK_BENCH_DB_PREFIX', 'rk')}_bench_plans_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if keep:
            print(f"kept database {url}", flush=True)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(url: str, args: argparse.Namespace) -> tuple[str, str, Counts, float]:
    """Migrate, create the account, insert the plans; returns credentials, counts, seconds."""
    from routekeeper.accounts.service import create_account
    from routekeeper.db import migrate
    from routekeeper.db.engine import Database
    from routekeeper.settings import DatabaseSettings

    migrate.upgrade(url)
    db = Database(DatabaseSettings(url=url))
    with db.write() as session:
        creds = create_account(session, name="Plans bench", contact_email=None)
    db.dispose()
    generator = Generator(creds.account_id, args.plans, args.groups, args.seed)
    seconds = insert(url, generator)
    return creds.account_id, creds.secret_key, generator.counts, seconds


def reuse(url: str) -> tuple[str, str, Counts, float]:
    """Use a database kept by an earlier ``--keep`` run: migrate it (new indexes), take its
    one account with a fresh secret, count its rows (for iterating; the report says so)."""
    from sqlalchemy import func, select

    from routekeeper.accounts.service import list_accounts, rotate_secret
    from routekeeper.db import migrate
    from routekeeper.db.engine import Database
    from routekeeper.models.order import Order
    from routekeeper.models.plan import Plan
    from routekeeper.models.route import Route
    from routekeeper.settings import DatabaseSettings

    migrate.upgrade(url)
    db = Database(DatabaseSettings(url=url))
    with db.write() as session:
        (account,) = list_accounts(session)
        creds = rotate_secret(session, account.account_id)
        assert creds is not None
        counts = Counts(
            plans=session.scalar(select(func.count()).select_from(Plan)) or 0,
            routes=session.scalar(select(func.count()).select_from(Route)) or 0,
            orders=session.scalar(select(func.count()).select_from(Order)) or 0,
            statuses=dict(session.execute(
                select(Plan.status, func.count()).group_by(Plan.status)).all()),
        )
    db.dispose()
    return creds.account_id, creds.secret_key, counts, float("nan")


@contextmanager
def reused_database(url: str) -> Iterator[str]:
    """The URL of a database that is neither created nor dropped here."""
    yield url


def main() -> None:
    """Parse arguments, build the data, time the listing, write the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-server", default=DEFAULT_PG)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse-database", metavar="URL",
                        help="time a database kept by an earlier --keep run instead")
    parser.add_argument("--max-wait", type=float, default=3600.0,
                        help="seconds to wait for other benchmarks before timing anyway")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--label", default="",
                        help="a separate report section, e.g. 'before' (with --source)")
    parser.add_argument("--source", type=Path, default=None,
                        help="import routekeeper from this src directory (to compare versions)")
    args = parser.parse_args()
    if args.source is not None:
        sys.path.insert(0, str(args.source.resolve()))
    command = " ".join(["PYTHONPATH=src .venv/bin/python bench/plans.py",
                        *(shlex.quote(a) for a in sys.argv[1:])])
    load = LoadLog()
    databases = reused_database(args.reuse_database) if args.reuse_database else \
        fresh_database(args.pg_server, args.keep)
    with databases as url:
        account_id, secret, counts, insert_s = reuse(url) if args.reuse_database else \
            prepare(url, args)
        print(f"inserted {counts.plans:,} plans, {counts.routes:,} routes, "
              f"{counts.orders:,} orders in {insert_s:.0f} s", flush=True)
        load.waited_s, _ = wait_until_quiet(args.max_wait)
        timing = time_pages(url, account_id, secret, args, load)
        explained = explain(url, timing.deep_statements)
    for name, samples in (("page 1", timing.page1), (f"page {args.page}", timing.deep)):
        total = _ms(s.seconds for s in samples)
        print(f"{name}: median {statistics.median(total):.1f} ms, "
              f"p95 {quantile(total, 0.95):.1f} ms, SQL median "
              f"{statistics.median(_ms(s.sql_seconds for s in samples)):.1f} ms", flush=True)
    for label, _sql, plan in explained:
        print(f"-- {label}\n{plan}\n", flush=True)
    print(load.describe(), flush=True)
    if not args.no_report:
        section = "bench/plans.py" + (f" ({args.label})" if args.label else "")
        replace_section(args.output, section,
                        render(args, counts, insert_s, timing, explained, load, command),
                        "Plans benchmark")
        print(f"wrote {args.output}", flush=True)


if __name__ == "__main__":
    main()
