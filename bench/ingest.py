"""Benchmark position ingestion end to end and write docs/benchmarks/ingest.md.

Run from the repository root (PostgreSQL needs a server; a fresh database is created on it):

    PYTHONPATH=src .venv/bin/python bench/ingest.py --db sqlite
    PYTHONPATH=src .venv/bin/python bench/ingest.py --db postgresql \\
        --pg-server postgresql://postgres@127.0.0.1:5432/postgres

For each database: a fresh, migrated database; the app served by uvicorn in a subprocess (as
``routekeeper serve`` does, job runner included); a fleet of devices, each on its own tracking
route of ``--stops`` orders; then load from this process with a thread pool:

* ``batch``: every device posts its drive in batches of ``--batch`` positions (1 Hz fixes, in
  order per device) to ``POST /devices/{id}/locations`` with its ingest key;
* ``osmand``: other devices post single fixes to ``GET /osmand?id=...``;
* ``insert``: the same position rows with a plain bulk ``INSERT`` (batches of ``--batch`` rows,
  one transaction each, same threads): the ceiling of what storing alone costs.

Latency is per request, from sending it to its answer, which comes after the positions, the
route state and every derived row were committed. Throughput counts positions accepted and
processed (stored and run through the route pipeline); the run checks afterwards that every
stored position reached its route's state.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import platform
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import numpy as np
from sqlalchemy import Table, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "ingest.md"
# A Paris-sized box for depots and stops.
CITY = {"lon": (2.25, 2.42), "lat": (48.81, 48.90)}
# The default travel model drives straight lines x 1.3 at 30 km/h: drivers follow its pace
# (give or take 20 % per leg), so ETAs behave as with a calibrated model.
MODEL_SPEED_MPS = 30 / 3.6 / 1.3
SERVICE_S = 240
EARTH_RADIUS_M = 6_371_008.8


# --------------------------------------------------------------------------- server


def _sample_stacks(path: str, interval_s: float = 0.002) -> None:
    """Sample every thread's stack and rewrite ``path`` with where the time goes every few
    seconds (a poor man's py-spy, for finding hot spots of the server under load; uvicorn
    ends on SIGTERM without running exit handlers, hence the periodic dump)."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    samples = {"n": 0}
    me = threading.get_ident()

    def loop() -> None:
        last_dump = time.monotonic()
        while True:
            time.sleep(interval_s)
            if time.monotonic() - last_dump > 2.0:
                dump()
                last_dump = time.monotonic()
            for ident, frame in sys._current_frames().items():
                if ident == me or frame is None:
                    continue
                if frame.f_code.co_name in ("wait", "select", "_worker", "accept", "poll",
                                            "sleep", "run_forever", "_run_once"):
                    continue
                samples["n"] += 1
                seen = set()
                exclusive[f"{frame.f_code.co_filename}:{frame.f_code.co_name}"] += 1
                current: Any = frame
                while current is not None:
                    key = f"{current.f_code.co_filename}:{current.f_code.co_name}"
                    if key not in seen:
                        inclusive[key] += 1
                        seen.add(key)
                    current = current.f_back

    def dump() -> None:
        total = max(1, samples["n"])
        with open(path, "w") as out:
            out.write(f"{samples['n']} samples\n\ninclusive\n")
            for key, count in inclusive.most_common(80):
                out.write(f"{100 * count / total:6.1f}%  {key}\n")
            out.write("\nexclusive\n")
            for key, count in exclusive.most_common(60):
                out.write(f"{100 * count / total:6.1f}%  {key}\n")

    sampler = threading.Thread(target=loop, daemon=True)
    me = 0
    sampler.start()
    me = sampler.ident or 0


def server_app() -> Any:
    """The app a benchmark server process serves (uvicorn factory)."""
    from routekeeper.app import create_app

    if os.environ.get("RK_BENCH_SAMPLE"):
        _sample_stacks(os.environ["RK_BENCH_SAMPLE"])
    app = create_app()
    if os.environ.get("RK_BENCH_GC_FREEZE") == "1":
        # Everything built so far lives as long as the process: keep it out of collections.
        gc.freeze()
    return app


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (gone ones are left out)."""
    found: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return found


def children(pid: int) -> list[int]:
    """The process and its direct children (uvicorn's worker processes)."""
    found = [pid]
    for path in Path("/proc").iterdir():
        if path.name.isdigit():
            try:
                fields = (path / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(path.name))
    return found


@dataclass
class Server:
    """A uvicorn subprocess serving the app on one port."""

    process: subprocess.Popen[bytes]
    base: str

    def stop(self) -> None:
        """Stop the server and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(db_url: str, *, workers: int, gc_freeze: bool) -> Server:
    """Serve the app on a free port; wait until /health answers."""
    port = free_port()
    env = {**os.environ, "ROUTEKEEPER_DATABASE__URL": db_url,
           "ROUTEKEEPER_SECRET_KEY": secrets.token_urlsafe(32),
           "PYTHONPATH": str(REPO_ROOT / "src"),
           "RK_BENCH_GC_FREEZE": "1" if gc_freeze else "0"}
    command = [sys.executable, "-m", "uvicorn", "ingest:server_app", "--factory",
               "--app-dir", str(REPO_ROOT / "bench"), "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--no-access-log",
               "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(base, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return Server(process, base)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


# --------------------------------------------------------------------------- database


def fresh_database(kind: str, pg_server: str) -> tuple[str, Callable[[], None]]:
    """A new, migrated database and a function that drops it."""
    from routekeeper.db import migrate

    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="rk-ingest-bench-")
        url = f"sqlite:///{directory}/bench.db"
        migrate.upgrade(url)
        return url, lambda: None
    server = make_url(pg_server.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"rk_bench_ingest_{secrets.token_hex(3)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


# --------------------------------------------------------------------------- fleet


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point east/north of (lon, lat) by the given metres."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lon + dlon, lat + dlat


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@dataclass
class Device:
    """One benchmark device: its key, route and the drive it will report."""

    device_id: str
    key: str
    depot: tuple[float, float]
    stops: list[tuple[float, float]]
    route_handle: str = ""
    fixes: list[dict[str, Any]] = field(default_factory=list)


def drive(device: Device, start: datetime, rng: np.random.Generator, *, hz: float,
          limit: int) -> None:
    """``hz`` fixes a second of the device's drive from ``start``: depot, each stop (with
    service), back; GPS noise of a few metres."""
    fixes: list[dict[str, Any]] = []
    step_s = 1.0 / hz
    battery = 95.0

    def emit(point: tuple[float, float], speed: float) -> None:
        nonlocal battery
        at = start + timedelta(seconds=len(fixes) * step_s)
        accuracy = float(rng.uniform(4.0, 10.0))
        lon, lat = offset(*point, float(rng.normal(0, 4.0)), float(rng.normal(0, 4.0)))
        fixes.append({"recorded_at": at.strftime("%Y-%m-%dT%H:%M:%S.")
                      + f"{at.microsecond // 1000:03d}Z",
                      "geometry": {"type": "Point", "coordinates": [round(lon, 7),
                                                                    round(lat, 7)]},
                      "accuracy": round(accuracy, 1), "speed": round(speed, 2),
                      "altitude": 35.0, "battery": round(battery, 1)})
        battery -= 0.0015 * step_s

    here = device.depot
    for stop in [*device.stops, device.depot]:
        speed = MODEL_SPEED_MPS * float(rng.uniform(0.8, 1.2))
        steps = max(1, int(distance_m(here, stop) / speed * hz))
        for step in range(steps):
            f = step / steps
            emit((here[0] + f * (stop[0] - here[0]), here[1] + f * (stop[1] - here[1])), speed)
            if len(fixes) >= limit:
                break
        here = stop
        for _ in range(int(rng.uniform(0.8, 1.2) * SERVICE_S * hz)):
            emit(here, 0.0)
            if len(fixes) >= limit:
                break
        if len(fixes) >= limit:
            break
    device.fixes = fixes


class Api:
    """A tiny JSON client over one keep-alive connection."""

    def __init__(self, base: str, auth: tuple[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection(base, timeout=120)
        self.headers = {"Content-Type": "application/json"}
        if auth is not None:
            import base64

            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send a request; (status, decoded JSON or None)."""
        payload = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)


def _stops(rng: np.random.Generator, depot: tuple[float, float], count: int
           ) -> list[tuple[float, float]]:
    """A delivery round: each stop 300-800 m from the previous one."""
    stops = []
    here = depot
    for _ in range(count):
        angle = float(rng.uniform(0, 2 * math.pi))
        step = float(rng.uniform(300, 800))
        here = offset(*here, step * math.cos(angle), step * math.sin(angle))
        stops.append(here)
    return stops


def setup_fleet(base: str, *, devices: int, stops: int, prefix: str, seed: int,
                account: tuple[str, str], starts_at: datetime, threads: int) -> list[Device]:
    """Workers, devices and tracking routes through the API (in parallel); each route's
    schedule assumes the drive starts at ``starts_at``."""

    def one(index: int, api: Api) -> Device:
        rng = np.random.default_rng([seed, index, ord(prefix)])
        worker = f"{prefix}-w{index}"
        status, _ = api.call("POST", "/workers/", {"worker_handle": worker})
        assert status in (200, 201), status
        device_id = f"{prefix}-d{index}"
        status, created = api.call("POST", "/devices/", {"device_id": device_id,
                                                         "worker_handle": worker})
        assert status == 201, created
        depot = (float(rng.uniform(*CITY["lon"])), float(rng.uniform(*CITY["lat"])))
        device = Device(device_id, created["ingest_key"], depot, _stops(rng, depot, stops))
        planned = starts_at
        here = depot
        orders = []
        for number, point in enumerate(device.stops):
            planned += timedelta(seconds=distance_m(here, point) / MODEL_SPEED_MPS + SERVICE_S)
            here = point
            orders.append({
                "order_handle": f"{device_id}-o{number}",
                "destination": {"geometry": {"type": "Point", "coordinates": list(point)},
                                "radius": 50},
                "scheduled_at": (planned + timedelta(minutes=10)).isoformat(),
                "expected_service_time": SERVICE_S})
        status, route = api.call("POST", "/orders/track", {
            "track_mode": "on_time", "worker_handle": worker, "device_id": device_id,
            "orders": orders})
        assert status == 201, route
        device.route_handle = route["route_handle"]
        return device

    fleet: list[Device | None] = [None] * devices

    def work(indexes: list[int]) -> None:
        api = Api(base, account)
        for index in indexes:
            fleet[index] = one(index, api)

    pool = [threading.Thread(target=work, args=(list(range(t, devices, threads)),))
            for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert all(d is not None for d in fleet), "fleet setup failed"
    return [d for d in fleet if d is not None]


# --------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    """What one load phase measured."""

    mode: str
    seconds: float
    requests: int
    positions: int
    duplicates: int
    rejected: int
    errors: int
    latencies_ms: list[float]
    # CPU seconds spent during the measured window, by the server, PostgreSQL and the client.
    cpu_s: dict[str, float] = field(default_factory=dict)

    def cpu_ms_per_request(self, who: str) -> float:
        """CPU milliseconds of ``who`` per measured request."""
        return self.cpu_s.get(who, float("nan")) * 1000 / max(1, self.requests)

    @property
    def rate(self) -> float:
        """Positions accepted and processed per second."""
        return (self.positions - self.duplicates) / self.seconds

    def quantile(self, q: float) -> float:
        """A latency quantile in milliseconds."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _requests(fleet: list[Device], mode: str, batch: int) -> list[list[tuple[str, str, bytes]]]:
    """Pre-encoded requests per device, in order (so the client spends no time encoding)."""
    out: list[list[tuple[str, str, bytes]]] = []
    for device in fleet:
        items: list[tuple[str, str, bytes]] = []
        if mode == "batch":
            for start in range(0, len(device.fixes), batch):
                body = json.dumps({"locations": device.fixes[start:start + batch]}).encode()
                items.append(("POST", f"/devices/{device.device_id}/locations", body))
        else:
            for fix in device.fixes:
                lon, lat = fix["geometry"]["coordinates"]
                stamp = datetime.fromisoformat(fix["recorded_at"])
                query = urlencode({"id": device.key, "lat": lat, "lon": lon,
                                   "timestamp": int(stamp.timestamp()),
                                   "speed": round(fix["speed"] * 3600 / 1852, 2),
                                   "accuracy": fix["accuracy"], "batt": fix["battery"]})
                items.append(("GET", f"/osmand?{query}", b""))
        out.append(items)
    return out


def run_load(base: str, fleet: list[Device], *, mode: str, batch: int, threads: int,
             duration_s: float, probes: dict[str, Callable[[], dict[int, float]]]
             ) -> LoadResult:
    """Each thread owns some devices and posts their requests in order, round-robin.

    The first request of every device (which starts its route's tracking state) is sent
    before the clock starts; then every request is measured for ``duration_s``.
    """
    plans = _requests(fleet, mode, batch)
    lock = threading.Lock()
    totals = {"requests": 0, "positions": 0, "duplicates": 0, "rejected": 0, "errors": 0}
    latencies: list[float] = []
    warmed = threading.Barrier(threads + 1)
    window: dict[str, float] = {}

    def send(conn: http.client.HTTPConnection, i: int, n: int) -> tuple[int, bytes, float]:
        method, path, body = plans[i][n]
        headers = {"Content-Type": "application/json"}
        if mode == "batch":
            headers["Authorization"] = f"Bearer {fleet[i].key}"
        sent = time.monotonic()
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, raw, time.monotonic() - sent

    def worker(mine: list[int]) -> None:
        conn = http.client.HTTPConnection(base, timeout=120)
        for i in mine:
            send(conn, i, 0)
        warmed.wait()
        warmed.wait()
        cursor = {i: 1 for i in mine}
        while cursor and time.monotonic() < window["stop"]:
            for i in list(cursor):
                if cursor[i] >= len(plans[i]):
                    del cursor[i]
                    continue
                status, raw, seconds = send(conn, i, cursor[i])
                cursor[i] += 1
                if time.monotonic() > window["stop"]:
                    break
                with lock:
                    totals["requests"] += 1
                    latencies.append(seconds * 1000)
                    if status != 200:
                        totals["errors"] += 1
                        continue
                    result = json.loads(raw)
                    totals["positions"] += result["accepted"]
                    totals["duplicates"] += result["duplicates"]
                    totals["rejected"] += result["rejected"]
                    window["last"] = time.monotonic()

    groups = [list(range(t, len(fleet), threads)) for t in range(threads)]
    pool = [threading.Thread(target=worker, args=(g,)) for g in groups]
    for thread in pool:
        thread.start()
    warmed.wait()
    before = {who: probe() for who, probe in probes.items()}
    client_before = time.process_time()
    window["start"] = time.monotonic()
    window["stop"] = window["start"] + duration_s
    warmed.wait()
    for thread in pool:
        thread.join()
    cpu = {}
    for who, probe in probes.items():
        # Processes that appeared during the window (new pool connections) count in full.
        after = probe()
        cpu[who] = sum(value - before[who].get(pid, 0.0) for pid, value in after.items())
    cpu["client"] = time.process_time() - client_before
    # Devices that ran out of fixes end the phase early: count the time actually loaded.
    elapsed = min(duration_s, window.get("last", window["stop"]) - window["start"])
    return LoadResult(mode, elapsed, totals["requests"], totals["positions"],
                      totals["duplicates"], totals["rejected"], totals["errors"], latencies, cpu)


def insert_ceiling(db_url: str, fleet: list[Device], *, batch: int, threads: int,
                   duration_s: float) -> LoadResult:
    """Plain bulk INSERTs of the fleet's position rows (new device ids), same threads."""
    from routekeeper.models.position import Position

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1),
                           pool_size=threads, max_overflow=0)
    table = cast(Table, Position.__table__)
    received = datetime.now(UTC)
    batches: list[list[dict[str, Any]]] = []
    for device in fleet:
        rows = [{"account_id": "ceiling", "device_id": f"ceiling-{device.device_id}",
                 "recorded_at": datetime.fromisoformat(f["recorded_at"]),
                 "received_at": received,
                 "lon": f["geometry"]["coordinates"][0], "lat": f["geometry"]["coordinates"][1],
                 "accuracy": f["accuracy"], "speed": f["speed"], "bearing": None,
                 "altitude": f["altitude"], "battery": f["battery"]} for f in device.fixes]
        batches.extend(rows[i:i + batch] for i in range(0, len(rows), batch))
    lock = threading.Lock()
    latencies: list[float] = []
    count = {"rows": 0}
    stop_at = time.monotonic() + duration_s
    queue = iter(batches)

    def worker() -> None:
        while time.monotonic() < stop_at:
            with lock:
                rows = next(queue, None)
            if rows is None:
                return
            sent = time.monotonic()
            with engine.begin() as conn:
                conn.execute(insert(table), rows)
            with lock:
                latencies.append((time.monotonic() - sent) * 1000)
                count["rows"] += len(rows)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    engine.dispose()
    return LoadResult("insert", elapsed, len(latencies), count["rows"], 0, 0, 0, latencies)


def postgres_backends(db_url: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to the benchmark database."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        pids = [int(p) for (p,) in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"))]
    engine.dispose()
    return pids


def processed_check(db_url: str, account_id: str) -> tuple[int, int]:
    """(positions stored, positions the route states took in) for the account's devices."""
    from routekeeper.models.position import Position
    from routekeeper.models.route import Route

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(Position)
                             .where(Position.account_id == account_id)) or 0
        seen = 0
        for (state,) in conn.execute(select(Route.track_state)
                                     .where(Route.account_id == account_id)):
            if state:
                pipeline = state["pipeline"]
                seen += sum(int(pipeline.get(k, 0)) for k in (
                    "fixes_accepted", "fixes_late", "fixes_rejected", "fixes_duplicate"))
    engine.dispose()
    return int(stored), seen


# --------------------------------------------------------------------------- report


@dataclass
class DbRun:
    """Every phase of one database."""

    db: str
    results: list[LoadResult]
    stored: int
    processed: int
    events: dict[str, int]


def machine() -> list[str]:
    """A few facts about the machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return [f"- CPU: {cpu}", f"- Cores: {os.cpu_count()} logical",
            f"- OS: {platform.system()} {platform.release()}",
            f"- Python: {platform.python_version()}",
            f"- Load average when the run ended: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"]


def render(runs: list[DbRun], args: argparse.Namespace, command: str) -> str:
    """The Markdown report."""
    lines = ["# Ingestion benchmark", "",
             f"Generated by `bench/ingest.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
             "## Machine", "", *machine(), "", "## Command", "", "```sh", command, "```", "",
             "## Results", "",
             f"Batch load: {args.devices:,} devices, each on its own tracking route of "
             f"{args.stops} orders 300-800 m apart, report {args.hz:g} fixes a second of a "
             f"noisy drive (depot, every stop with about {SERVICE_S} s of service) in "
             f"batches of {args.batch}. OsmAnd load: {args.osmand_devices} more devices "
             "send one fix a request (1 Hz drives). The drives start when the load does, "
             "so uploads arrive about when a live device would send them. Server: uvicorn, "
             f"{args.workers} worker process(es) on PostgreSQL and {args.sqlite_workers} on "
             "SQLite (it has one writer at a time), job runner in process, `gc.freeze()` after "
             f"startup: {'yes' if args.gc_freeze else 'no'}. Client: {args.threads} threads "
             "in another process. Each device's first upload (which starts its route's "
             f"tracking state) is sent before the clock starts; then {args.duration:.0f} s "
             "are measured. *positions/s* counts positions accepted, stored and run through "
             "their route's pipeline; latency is per request, until the answer, which is sent "
             "after commit. *insert*: the same rows by plain bulk `INSERT`s (one "
             "transaction per batch, same threads): the ceiling of storing alone.", "",
             "| database | mode | positions/request | requests | positions/s | p50 ms | "
             "p99 ms | errors |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in runs:
        for r in run.results:
            size = args.batch if r.mode in ("batch", "insert") else 1
            lines.append(f"| {run.db} | {r.mode} | {size} | {r.requests:,} | {r.rate:,.0f} | "
                         f"{r.quantile(0.5):.1f} | {r.quantile(0.99):.1f} | {r.errors} |")
    lines += ["", "CPU per request over the same window (server: the uvicorn processes; "
              "PostgreSQL: its backends for this database; client: the load generator). "
              "Other work on the machine lowers the wall-clock rates above; these depend "
              "on it much less, and bound what two dedicated cores can do:", "",
              "| database | mode | server ms | PostgreSQL ms | client ms |",
              "| --- | --- | ---: | ---: | ---: |"]
    for run in runs:
        for r in run.results:
            if r.mode == "insert":
                continue
            postgres = r.cpu_ms_per_request("postgres")
            lines.append(f"| {run.db} | {r.mode} | {r.cpu_ms_per_request('server'):.1f} | "
                         f"{'—' if math.isnan(postgres) else f'{postgres:.1f}'} | "
                         f"{r.cpu_ms_per_request('client'):.1f} |")
    lines += ["", "## Against the target", "",
              "Target: on PostgreSQL, at least 8,000 positions/s in batches of 100 with a p99 "
              "under 250 ms per batch.", ""]
    for run in runs:
        for r in run.results:
            if r.mode != "batch":
                continue
            reached = r.rate >= 8000 and r.quantile(0.99) < 250
            cpu = sum(r.cpu_ms_per_request(who) for who in ("server", "postgres", "client")
                      if not math.isnan(r.cpu_ms_per_request(who)))
            capacity = 2 * 1000 / cpu * args.batch if cpu else float("nan")
            verdict = "reached" if reached else "**not reached**"
            lines.append(f"- {run.db}: {r.rate:,.0f} positions/s, p99 {r.quantile(0.99):.0f} ms"
                         f" — {verdict} in this run. CPU per batch, all processes: {cpu:.1f} "
                         f"ms, so two cores kept busy by this work alone would process about "
                         f"{capacity:,.0f} positions/s.")
    lines += ["", "Latency and concurrency are tied by Little's law: with 8 requests in flight "
              "at 80 batches/s, a batch spends 100 ms in the system on average; more client "
              "threads raise throughput only until the cores are busy, and then only latency.",
              "", "Check after each run (batch and OsmAnd devices together): positions stored "
              "vs positions the route states took in, and the webhook events they produced:", ""]
    for run in runs:
        events = ", ".join(f"{k} {v:,}" for k, v in sorted(run.events.items()))
        lines.append(f"- {run.db}: {run.stored:,} stored, {run.processed:,} processed; "
                     f"events: {events}")
    return "\n".join(lines) + "\n"


def event_counts(db_url: str, account_id: str) -> dict[str, int]:
    """Outbox events of the account by value."""
    from routekeeper.models.outbox_event import OutboxEvent

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.value, func.count())
                            .where(OutboxEvent.account_id == account_id)
                            .group_by(OutboxEvent.value)).all()
    engine.dispose()
    return {str(v): int(n) for v, n in rows}


def bench_database(kind: str, args: argparse.Namespace) -> DbRun:
    """Every phase on one fresh database."""
    from routekeeper.accounts.service import create_account
    from routekeeper.db.engine import Database
    from routekeeper.settings import DatabaseSettings

    url, drop = fresh_database(kind, args.pg_server)
    try:
        database = Database(DatabaseSettings(url=url))
        with database.write() as session:
            creds = create_account(session, name="bench")
        database.dispose()
        workers = args.sqlite_workers if kind == "sqlite" else args.workers
        server = start_server(url, workers=workers, gc_freeze=args.gc_freeze)
        try:
            account = (creds.account_id, creds.secret_key)
            # Drives start about when the load does, so uploads arrive as they would live.
            lead = timedelta(seconds=args.devices / 100 + args.osmand_devices / 50 + 60)
            starts_at = datetime.now(UTC).replace(microsecond=0) + lead
            batch_fleet = setup_fleet(server.base, devices=args.devices, stops=args.stops,
                                      prefix="b", seed=args.seed, account=account,
                                      starts_at=starts_at, threads=8)
            osmand_fleet = setup_fleet(server.base, devices=args.osmand_devices,
                                       stops=args.stops, prefix="s", seed=args.seed,
                                       account=account, starts_at=starts_at, threads=8)
            starts_at = datetime.now(UTC)
            per_device = math.ceil(args.expect * args.duration / args.devices
                                   / args.batch + 2) * args.batch
            for index, device in enumerate(batch_fleet):
                drive(device, starts_at, np.random.default_rng([args.seed, 7, index]),
                      hz=args.hz, limit=per_device)
            for index, device in enumerate(osmand_fleet):
                drive(device, starts_at, np.random.default_rng([args.seed, 8, index]),
                      hz=1.0, limit=int(args.duration * 4) + 10)
            server_pids = children(server.process.pid)
            probes: dict[str, Callable[[], dict[int, float]]] = {
                "server": lambda: process_cpu_s(server_pids)}
            if kind == "postgresql":
                probes["postgres"] = lambda: process_cpu_s(postgres_backends(url))
            results = [run_load(server.base, batch_fleet, mode="batch", batch=args.batch,
                                threads=args.threads, duration_s=args.duration,
                                probes=probes),
                       run_load(server.base, osmand_fleet, mode="osmand", batch=1,
                                threads=args.threads, duration_s=args.duration,
                                probes=probes)]
        finally:
            server.stop()
        stored, processed = processed_check(url, creds.account_id)
        events = event_counts(url, creds.account_id)
        results.append(insert_ceiling(url, batch_fleet, batch=args.batch,
                                      threads=args.threads, duration_s=args.duration))
        return DbRun(kind, results, stored, processed, events)
    finally:
        drop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--devices", type=int, default=1600)
    parser.add_argument("--hz", type=float, default=5.0,
                        help="fixes a second of each batch device")
    parser.add_argument("--osmand-devices", type=int, default=200)
    parser.add_argument("--expect", type=float, default=16_000,
                        help="positions/s the fixes are generated for (more is harmless)")
    parser.add_argument("--stops", type=int, default=12)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2,
                        help="uvicorn worker processes on PostgreSQL")
    parser.add_argument("--sqlite-workers", type=int, default=1,
                        help="uvicorn worker processes on SQLite (one writer at a time)")
    parser.add_argument("--duration", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gc-freeze", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = [bench_database(kind, args) for kind in kinds]
    command = "PYTHONPATH=src .venv/bin/python bench/ingest.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    report = render(runs, args, command)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

