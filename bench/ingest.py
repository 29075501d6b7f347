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
import http.client
import json
import math
import os
import platform
import secrets
import shlex
import signal
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
from lean_http import LeanConnection, LeanHttpError  # beside this file
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
# The uploads keep the product's limits (each device's bucket, the account's ingest class);
# one client creating thousands of devices, orders and routes before the clock starts is not
# what the account's read and write limits are for, so those are opened for the set-up.
def _setup_limits() -> str:
    from routekeeper.settings import LimitSettings

    rules = {name: rule.model_dump() for name, rule in LimitSettings().requests.items()}
    opened = {"per_s": 100_000, "burst": 100_000}
    return json.dumps({**rules, "read": opened, "write": opened})
EARTH_RADIUS_M = 6_371_008.8


# --------------------------------------------------------------------------- server


def server_app() -> Any:
    """The app a benchmark server process serves (uvicorn factory)."""
    from routekeeper.app import create_app

    app = create_app()
    if os.environ.get("RK_BENCH_GC_FREEZE") == "1":
        # As `routekeeper serve` does once started (core/collector.py).
        from routekeeper.core import collector

        collector.settle()
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
    """A uvicorn subprocess serving the app on one port, and the separate worker processes
    (``routekeeper worker``) of the split layout."""

    process: subprocess.Popen[bytes]
    base: str
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def pids(self) -> list[int]:
        """The uvicorn supervisor, its server processes and the worker processes."""
        return children(self.process.pid) + [w.pid for w in self.workers if w.poll() is None]

    def start_worker(self) -> None:
        """One more ``routekeeper worker`` process (job runner and tracking processor)."""
        self.workers.append(subprocess.Popen(
            [sys.executable, "-m", "routekeeper.cli.main", "worker"], env=self.env))

    def kill_processor(self) -> int:
        """SIGKILL a process that runs tracking processor threads, as a crash would; in the
        split layout its replacement is started at once (as systemd's Restart= would), in
        the other uvicorn starts one. The pid killed."""
        if self.workers:
            victim = self.workers.pop(0)
            victim.kill()
            victim.wait()
            self.start_worker()
            return victim.pid
        pid = children(self.process.pid)[1]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        """Stop the server and the workers, and wait for them."""
        for process in [self.process, *self.workers]:
            process.terminate()
        for process in [self.process, *self.workers]:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


# uvicorn as ``routekeeper serve`` runs it (the service's HTTP protocol), with ``workers``
# processes sharing one socket; uvicorn's command line only offers its own protocols.
# (``--uvicorn-http`` serves with uvicorn's own protocol instead, to measure the difference.)
_SERVE = """
import sys, uvicorn
from routekeeper.core.http_protocol import CorkedHttpToolsProtocol
uvicorn.run("ingest:server_app", factory=True, app_dir=sys.argv[1], host="127.0.0.1",
            port=int(sys.argv[2]), workers=int(sys.argv[3]), access_log=False,
            log_level="warning",
            http="httptools" if sys.argv[4] == "uvicorn" else CorkedHttpToolsProtocol)
"""


def start_server(db_url: str, *, workers: int, gc_freeze: bool,
                 extra_env: dict[str, str] | None = None, worker_processes: int = 0,
                 uvicorn_http: bool = False) -> Server:
    """Serve the app on a free port; wait until /health answers. With ``worker_processes``
    the uvicorn processes serve the API only and that many ``routekeeper worker`` processes
    run the jobs and the tracking processor (the layout of docs/deploy.md); without, each
    uvicorn process runs them in process (as ``routekeeper serve``)."""
    port = free_port()
    env = {**os.environ, **(extra_env or {}), "ROUTEKEEPER_DATABASE__URL": db_url,
           "ROUTEKEEPER_SECRET_KEY": secrets.token_urlsafe(32),
           "PYTHONPATH": str(REPO_ROOT / "src"),
           "RK_BENCH_GC_FREEZE": "1" if gc_freeze else "0"}
    if worker_processes:
        env["ROUTEKEEPER_JOBS__RUN_IN_API"] = "false"
    command = [sys.executable, "-c", _SERVE, str(REPO_ROOT / "bench"), str(port), str(workers),
               "uvicorn" if uvicorn_http else "corked"]
    process = subprocess.Popen(command, env=env)
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(base, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                server = Server(process, base, env)
                for _ in range(worker_processes):
                    server.start_worker()
                return server
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


# --------------------------------------------------------------------------- database


def autovacuum_on(conn: Any) -> Callable[[Any], None]:
    """Run the PostgreSQL server with autovacuum on, as its default is and as any server in
    use runs; a function that puts the setting back as it was.

    This machine's server has it off (its conf.d, for test suites). Without it, the planner
    keeps the statistics of empty tables while the fleet is set up, and a cached plan reads
    every order for each foreign-key check of an order event: the set-up of 2,000 routes
    slowed down route by route to 15-25 minutes. Nor does anything clear the inbox's dead rows,
    a queue's inserts and deletes at the rate of the fixes, during a run."""
    if conn.scalar(text("SHOW autovacuum")) == "on":
        return lambda _conn: None
    conn.execute(text("ALTER SYSTEM SET autovacuum = on"))
    conn.execute(text("SELECT pg_reload_conf()"))

    def restore(again: Any) -> None:
        again.execute(text("ALTER SYSTEM RESET autovacuum"))
        again.execute(text("SELECT pg_reload_conf()"))

    return restore


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
        restore_autovacuum = autovacuum_on(conn)
    url = server.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            restore_autovacuum(conn)
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


# The server's processes, for RK_BENCH_PYSPY (set when the server starts).
SERVER_PIDS: list[int] = []


def _profile_server(mode: str, duration_s: float) -> list[subprocess.Popen[bytes]]:
    """With ``RK_BENCH_PYSPY=<dir>``, record where each server process spends the measured
    window (py-spy, collapsed stacks with thread names, idle threads left out) into
    ``<dir>/<mode>-<pid>.txt``; py-spy is not a dependency: ``pip install py-spy`` first."""
    folder = os.environ.get("RK_BENCH_PYSPY")
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration",
                              str(max(1, int(duration_s))), "--rate", "100", "--format", "raw",
                              "--threads", "--nonblocking", "--gil",
                              "--output", f"{folder}/{mode}-{pid}.txt"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for pid in SERVER_PIDS]


def _headers(mode: str, device: Device) -> dict[str, str]:
    """The headers of a device's upload: OsmAnd's query strings need none."""
    if mode != "batch":
        return {}
    return {"Content-Type": "application/json", "Authorization": f"Bearer {device.key}"}


def run_load(base: str, fleet: list[Device], *, mode: str, batch: int, threads: int,
             duration_s: float, probes: dict[str, Callable[[], dict[int, float]]],
             settle: Callable[[], None] = lambda: None) -> LoadResult:
    """Each thread owns some devices and posts their requests in order, round-robin.

    The first request of every device (which starts its route's tracking state) is sent
    before the clock starts, and ``settle`` runs once they all were answered; then every
    request is measured for ``duration_s``.
    """
    plans = _requests(fleet, mode, batch)
    lock = threading.Lock()
    totals = {"requests": 0, "positions": 0, "duplicates": 0, "rejected": 0, "errors": 0}
    latencies: list[float] = []
    warmed = threading.Barrier(threads + 1)
    window: dict[str, float] = {}

    def send(conn: LeanConnection, i: int, n: int) -> tuple[int, bytes, float]:
        method, path, body = plans[i][n]
        sent = time.monotonic()
        status, raw = conn.request(method, path, body, _headers(mode, fleet[i]))
        return status, raw, time.monotonic() - sent

    def worker(mine: list[int]) -> None:
        conn = LeanConnection(base, timeout_s=120)
        for i in mine:
            send(conn, i, 0)
        warmed.wait()
        warmed.wait()
        # The server may have closed the idle connection while the routes started (its
        # keep-alive timeout): the timed requests go on a fresh one.
        conn.close()
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
    settle()
    before = {who: probe() for who, probe in probes.items()}
    client_before = time.process_time()
    window["start"] = time.monotonic()
    window["stop"] = window["start"] + duration_s
    profilers = _profile_server(mode, duration_s)
    warmed.wait()
    for thread in pool:
        thread.join()
    for profiler in profilers:
        profiler.wait()
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
        seen = sum(taken_in(state, tail) for state, tail in conn.execute(
            select(Route.track_state, Route.track_tail).where(Route.account_id == account_id)))
    engine.dispose()
    return int(stored), seen


def taken_in(state: dict[str, Any] | None, tail: list[dict[str, Any]] | None) -> int:
    """The fixes a route's state took in: those its checkpoint counted (accepted, late,
    rejected or duplicate) and those of the batches in its tail (docs/tracking.md)."""
    if not state:
        return 0
    pipeline = state["pipeline"]
    counted = sum(int(pipeline.get(k, 0)) for k in (
        "fixes_accepted", "fixes_late", "fixes_rejected", "fixes_duplicate"))
    return counted + sum(len(batch["fixes"]) for batch in tail or ())


# --------------------------------------------------------------------------- pipeline lag

METRICS_TOKEN = "bench-" + secrets.token_hex(8)
LAG_FAMILY = "routekeeper_tracking_pipeline_lag_seconds"
BATCH_FAMILY = "routekeeper_tracking_batch_fixes"
GROUP_FAMILY = "routekeeper_tracking_upload_group_uploads"


def scrape(base: str) -> str:
    """/metrics of every server process (multiprocess mode)."""
    conn = http.client.HTTPConnection(base, timeout=60)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    response = conn.getresponse()
    return response.read().decode()


def lag_histogram(text_: str) -> dict[float, float]:
    """The processor's pipeline-lag histogram over every server process (cumulative counts
    by upper bound) in a scrape."""
    buckets: dict[float, float] = {}
    for line in text_.splitlines():
        if line.startswith(f"{LAG_FAMILY}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            upper = float("inf") if bound == "+Inf" else float(bound)
            buckets[upper] = buckets.get(upper, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def batch_count(text_: str) -> int:
    """How many device batches the processors have run, in a scrape (the fixes per batch are
    what the per-batch work is spread over)."""
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines()
                   if line.startswith(f"{BATCH_FAMILY}_count")))


def upload_groups(text_: str) -> tuple[float, float]:
    """How many groups the upload writers wrote, and the uploads in them, in a scrape."""
    count = total = 0.0
    for line in text_.splitlines():
        if line.startswith(f"{GROUP_FAMILY}_count"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{GROUP_FAMILY}_sum"):
            total += float(line.rsplit(" ", 1)[1])
    return count, total


def state_writes(text_: str, kind: str) -> float:
    """How many route states the processors wrote whole (``checkpoint``) or as a tail
    (``tail``), in a scrape."""
    prefix = f'routekeeper_tracking_state_writes_total{{kind="{kind}"'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines()
               if line.startswith(prefix))


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float
                       ) -> float:
    """A quantile of the observations between two scrapes, interpolated within its bucket
    (as Prometheus' histogram_quantile does)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return bounds[-2] if len(bounds) > 1 else float("nan")


def lag_count(before: dict[float, float], after: dict[float, float]) -> int:
    """How many fixes were processed between two scrapes."""
    inf = float("inf")
    return int(after.get(inf, 0.0) - before.get(inf, 0.0))


def _engine(db_url: str) -> Any:
    return create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1),
                         pool_size=2, max_overflow=0)


def settle_statistics(engine: Any) -> None:
    """ANALYZE the database once the fleet is set up, as autovacuum would have done by then
    on a server in use. Measured right after creating thousands of rows, the planner still
    believes the tables hold the few rows it last saw, and reads every row of the account
    for each look-up of a few devices or routes (1.3-1.6 ms a statement instead of 0.1)."""
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def backlog(engine: Any) -> tuple[int, float]:
    """(fixes waiting in the inbox, age in seconds of the oldest)."""
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT coalesce(sum(fix_count), 0) FROM position_inbox")) or 0
        oldest = conn.scalar(text(
            "SELECT extract(epoch FROM now() - received_at) FROM position_inbox "
            "ORDER BY id LIMIT 1"))
    return int(count), float(oldest or 0.0)


def wait_drained(engine: Any, timeout_s: float = 600.0) -> float:
    """Seconds until the inbox is empty (processing caught up with everything stored)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if backlog(engine)[0] == 0:
            return time.monotonic() - started
        time.sleep(0.25)
    return float("nan")


class BacklogSampler:
    """Samples the inbox (count, oldest age) every ``every_s`` in a thread."""

    def __init__(self, engine: Any, every_s: float = 1.0) -> None:
        self.engine = engine
        self.every_s = every_s
        self.samples: list[tuple[float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                count, age = backlog(self.engine)
            except Exception:
                continue
            self.samples.append((time.monotonic(), count, age))

    def __enter__(self) -> BacklogSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def max_age(self, since: float = 0.0) -> float:
        """The oldest waiting fix's age at its worst (sampled from ``since``, monotonic)."""
        return max((age for at, _, age in self.samples if at >= since), default=0.0)


def arrival_lags(engine: Any, account_id: str, prefix: str, since: datetime,
                 dwell_s: float = 30.0) -> list[float]:
    """For each arrival event of the devices ``prefix-d*`` created since ``since``: seconds
    from the fix that completed the stop's dwell (the first one recorded ``dwell_s`` after
    the arrival) reaching the server to the event being written by the processor."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT extract(epoch FROM e.created_at - p.received_at)
            FROM outbox_event e
            JOIN route r ON r.account_id = e.account_id AND r.route_handle = e.route_handle
            JOIN LATERAL (
                SELECT received_at FROM position p
                WHERE p.account_id = r.account_id AND p.device_id = r.device_id
                  AND p.recorded_at >= e.recorded_at + make_interval(secs => :dwell)
                ORDER BY p.recorded_at LIMIT 1) p ON true
            WHERE e.account_id = :account AND e.value = 'arrived' AND e.created_at >= :since
              AND r.device_id LIKE :prefix"""),
            {"account": account_id, "since": since, "dwell": dwell_s,
             "prefix": f"{prefix}-d%"}).scalars()
        return [max(0.0, float(v)) for v in rows]


def quantile(values: list[float], q: float) -> float:
    """A quantile of plain values (nan when empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes together, in MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --------------------------------------------------------------------------- paced load


@dataclass
class Paced:
    """What a paced run (soak, kill-and-restart) saw."""

    seconds: float
    windows: list[dict[str, float]]
    requests: int
    errors: int
    latencies_ms: list[float]
    answered: dict[str, set[str]]  # device id -> recorded_at of fixes answered 200
    statuses: dict[int, int] = field(default_factory=dict)
    # The pipeline lag's p50 and p99 (s) over the run, when measured.
    lag_s: tuple[float, float] | None = None


def run_paced(base: str, fleet: list[Device], *, mode: str, batch: int, threads: int,
              duration_s: float, window_s: float, sample: Callable[[], dict[str, float]],
              at: dict[float, Callable[[], None]] | None = None) -> Paced:
    """Send each device's requests when their newest fix is in the past (so the load is what
    live devices would send: paced by their drives), for ``duration_s``; every ``window_s``
    a row of rate, latency and ``sample()``. ``at``: actions at given seconds (a kill)."""
    plans = _requests(fleet, mode, batch)
    due: list[list[float]] = []
    stamps: list[list[list[str]]] = []
    for device in fleet:
        times = [f["recorded_at"] for f in device.fixes]
        if mode == "batch":
            groups = [times[i:i + batch] for i in range(0, len(times), batch)]
        else:
            groups = [[t] for t in times]
        stamps.append(groups)
        due.append([datetime.fromisoformat(g[-1].replace("Z", "+00:00")).timestamp()
                    for g in groups])
    lock = threading.Lock()
    latencies: list[tuple[float, float]] = []
    counts = {"requests": 0, "errors": 0}
    statuses: dict[int, int] = {}
    answered: dict[str, set[str]] = {d.device_id: set() for d in fleet}
    started = time.monotonic()
    stop_at = started + duration_s

    def connect() -> LeanConnection:
        return LeanConnection(base, timeout_s=60)

    def worker(mine: list[int]) -> None:
        conn = connect()
        cursor = {i: 0 for i in mine}
        while time.monotonic() < stop_at and cursor:
            sent_any = False
            now_wall = time.time()
            for i in list(cursor):
                n = cursor[i]
                if n >= len(plans[i]):
                    del cursor[i]
                    continue
                if due[i][n] > now_wall:
                    continue
                method, path, body = plans[i][n]
                t0 = time.monotonic()
                status, raw = 0, b""
                # A connection idle past the server's keep-alive timeout (the fleet's batches
                # fall due together, so threads idle between them) is closed by the server and
                # found closed only by the next request, which LeanConnection sends again on a
                # new one, as any HTTP client does (uploads are idempotent). A failure beyond
                # that counts as an error (status 0).
                try:
                    status, raw = conn.request(method, path, body, _headers(mode, fleet[i]))
                except (OSError, LeanHttpError):
                    conn.close()
                    conn = connect()
                elapsed = time.monotonic() - t0
                sent_any = True
                with lock:
                    counts["requests"] += 1
                    statuses[status] = statuses.get(status, 0) + 1
                    latencies.append((t0 - started, elapsed * 1000))
                    if status == 200:
                        result = json.loads(raw)
                        refused = {r["index"] for r in result["rejections"]}
                        answered[fleet[i].device_id].update(
                            s for k, s in enumerate(stamps[i][n]) if k not in refused)
                    else:
                        counts["errors"] += 1
                if status == 200 or status == 0:
                    cursor[i] = n + 1  # a failed request is not retried (the check says so)
                if time.monotonic() >= stop_at:
                    break
            if not sent_any:
                time.sleep(0.005)

    groups = [list(range(t, len(fleet), threads)) for t in range(threads)]
    pool = [threading.Thread(target=worker, args=(g,)) for g in groups]
    for thread in pool:
        thread.start()
    windows: list[dict[str, float]] = []
    actions = dict(at or {})
    next_window = started + window_s
    last_count = 0
    while any(t.is_alive() for t in pool):
        time.sleep(0.2)
        now = time.monotonic()
        for when in sorted(actions):
            if now - started >= when:
                actions.pop(when)()
        if now >= next_window:
            with lock:
                recent = [ms for t, ms in latencies if t >= next_window - window_s - started]
                done = counts["requests"]
            row = {"t": round(now - started), "requests/s": (done - last_count) / window_s,
                   "p99 ms": quantile(recent, 0.99), **sample()}
            windows.append(row)
            last_count = done
            next_window += window_s
    for thread in pool:
        thread.join()
    return Paced(time.monotonic() - started, windows, counts["requests"], counts["errors"],
                 [ms for _, ms in latencies], answered, statuses)


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
             "SQLite (it has one writer at a time), job runner in process, "
             "`collector.settle()` (gc frozen, young threshold 50,000) after "
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
            if kind == "postgresql":
                analyzer = _engine(url)
                settle_statistics(analyzer)
                analyzer.dispose()
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


# --------------------------------------------------------------------------- fleet scale


@dataclass
class Phase:
    """A throughput phase with its pipeline lag."""

    name: str
    devices: int
    load: LoadResult
    lag_p50: float
    lag_p99: float
    lag_fixes: int
    batches: int
    max_backlog_age: float
    drain_s: float
    arrival_lags: list[float]
    start_s: float
    tail_share: float
    # Uploads a group of the upload writers wrote on average.
    group_uploads: float


def _throughput_phase(name: str, base: str, fleet: list[Device], *, mode: str, batch: int,
                      threads: int, duration_s: float, engine: Any, account_id: str,
                      prefix: str, probes: dict[str, Callable[[], dict[int, float]]]
                      ) -> Phase:
    since = datetime.now(UTC)
    started: dict[str, Any] = {}

    def settle() -> None:
        # Every route has started tracking (its state made, its first ETAs and webhooks
        # sent) before the clock starts: the fleet is one in the middle of its day. Starting
        # 500 routes within a second is a burst of its own (``start s`` in the table).
        began = time.monotonic()
        wait_drained(engine)
        started["s"] = time.monotonic() - began
        started["at"] = time.monotonic()
        started["scrape"] = scrape(base)
        if os.environ.get("BENCH_TRACE_BACKLOG"):
            # For a profiler to attach to the server's processes for the timed window.
            print(f"window {name} begins", file=sys.stderr, flush=True)

    with BacklogSampler(engine) as sampler:
        result = run_load(base, fleet, mode=mode, batch=batch, threads=threads,
                          duration_s=duration_s, probes=probes, settle=settle)
        drain_s = wait_drained(engine)
    if os.environ.get("BENCH_TRACE_BACKLOG"):
        # The inbox second by second on stderr, to see where a phase's lag tail comes from.
        for at, count, age in sampler.samples:
            print(f"backlog {name} t={at - started['at']:5.1f}s waiting={count} "
                  f"oldest={age:.1f}s", file=sys.stderr)
    first = started["scrape"]
    last = scrape(base)
    before, after = lag_histogram(first), lag_histogram(last)
    return Phase(name, len(fleet), result, histogram_quantile(before, after, 0.5),
                 histogram_quantile(before, after, 0.99), lag_count(before, after),
                 batch_count(last) - batch_count(first), sampler.max_age(since=started["at"]),
                 drain_s, arrival_lags(engine, account_id, prefix, since), started["s"],
                 _tail_share(first, last), _group_uploads(first, last))


def _group_uploads(first: str, last: str) -> float:
    """The uploads a group of the upload writers held on average between two scrapes."""
    (count_0, total_0), (count_1, total_1) = upload_groups(first), upload_groups(last)
    return (total_1 - total_0) / (count_1 - count_0) if count_1 > count_0 else math.nan


def _tail_share(first: str, last: str) -> float:
    """The share of the route states written in a window that went to a tail."""
    tails = state_writes(last, "tail") - state_writes(first, "tail")
    whole = state_writes(last, "checkpoint") - state_writes(first, "checkpoint")
    return tails / (tails + whole) if tails + whole else math.nan


@dataclass
class Check:
    """The kill-and-restart run's counts."""

    answered: int
    answered_missing: int
    stored: int
    processed: int
    arrived_events: int
    arrived_orders: int
    doubled_orders: int
    exited_events: int
    exited_orders: int
    killed_pid: int
    processes_after: int
    drain_s: float


def kill_check(engine: Any, account_id: str, prefix: str, paced: Paced
               ) -> tuple[int, int, int, int, int, int, int, int, int]:
    """(answered fixes, answered fixes missing from the database, positions stored, fixes
    the route states took in, arrived events, orders arrived, orders with more than one
    arrived event, exited events, orders exited) for the devices ``prefix-d*``."""
    with engine.connect() as conn:
        stored_rows = conn.execute(text(
            "SELECT device_id, recorded_at FROM position WHERE account_id = :a "
            "AND device_id LIKE :p"), {"a": account_id, "p": f"{prefix}-d%"}).all()
        states = conn.execute(text(
            "SELECT track_state, track_tail FROM route WHERE account_id = :a "
            "AND device_id LIKE :p"), {"a": account_id, "p": f"{prefix}-d%"}).all()
        events = dict(conn.execute(text(
            "SELECT e.value, count(*) FROM outbox_event e JOIN route r "
            "ON r.account_id = e.account_id AND r.route_handle = e.route_handle "
            "WHERE e.account_id = :a AND r.device_id LIKE :p AND e.value IN "
            "('arrived', 'exited') GROUP BY e.value"),
            {"a": account_id, "p": f"{prefix}-d%"}).all())
        doubled = conn.scalar(text(
            "SELECT count(*) FROM (SELECT e.order_id FROM outbox_event e JOIN route r "
            "ON r.account_id = e.account_id AND r.route_handle = e.route_handle "
            "WHERE e.account_id = :a AND r.device_id LIKE :p AND e.value = 'arrived' "
            "GROUP BY e.order_id HAVING count(*) > 1) x"),
            {"a": account_id, "p": f"{prefix}-d%"}) or 0
        arrived_orders, exited_orders = conn.execute(text(
            "SELECT count(o.arrived_at), count(o.exited_at) FROM \"order\" o JOIN route r "
            "ON r.account_id = o.account_id AND r.route_handle = o.route_handle "
            "WHERE o.account_id = :a AND r.device_id LIKE :p"),
            {"a": account_id, "p": f"{prefix}-d%"}).one()
    stored = {(d, t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
              for d, t in stored_rows}
    answered = {(d, stamp) for d, stamps in paced.answered.items() for stamp in stamps}
    processed = sum(taken_in(state, tail) for state, tail in states)
    return (len(answered), len(answered - stored), len(stored), processed,
            int(events.get("arrived", 0)), int(arrived_orders), int(doubled),
            int(events.get("exited", 0)), int(exited_orders))


def fmt(value: float, digits: int = 2) -> str:
    """A number, or an em dash for nan."""
    return "—" if value != value else f"{value:,.{digits}f}"


def _layout(args: argparse.Namespace) -> str:
    protocol = ("uvicorn's own HTTP protocol" if args.uvicorn_http
                else "the service's corked HTTP protocol")
    if args.worker_processes:
        return (f"uvicorn ({protocol}), {args.workers} API processes (`jobs.run_in_api` off), "
                f"and {args.worker_processes} `routekeeper worker` process(es) with the job "
                "runner and the tracking processor (the layout of docs/deploy.md)")
    return (f"uvicorn ({protocol}), {args.workers} worker processes, each with its job runner "
            "and tracking processor in process (as `routekeeper serve`)")


def render_fleet(args: argparse.Namespace, command: str, phases: list[Phase],
                 soak: Paced | None, kill: tuple[Paced, Check] | None,
                 loads: dict[str, tuple[float, float, float]]) -> str:
    """The Markdown tables of a fleet-scale run (the notes around them are by hand)."""
    lines = ["# Ingestion benchmark: store first, process right after", "",
             f"Written by `bench/ingest.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the "
             "summary and notes are by hand (see below).", "", "## Machine", "", *machine(),
             "", "Load average (1 / 5 / 15 min) when each part began:", ""]
    lines += [f"- {name}: {a:.1f} / {b:.1f} / {c:.1f}" for name, (a, b, c) in loads.items()]
    lines += ["", "## Command", "", "```sh", command, "```", "",
              "## Throughput and pipeline lag", "",
              f"PostgreSQL; server: {_layout(args)}; `collector.settle()` (gc frozen, young "
              "threshold 50,000) after startup (server "
              "processes). Each device has its own tracking route of "
              f"{args.stops} orders. *single*: OsmAnd query strings, one fix a request "
              f"({args.osmand_threads} client threads); *batch*: "
              f"`POST /devices/{{id}}/locations` with {args.batch} fixes ({args.threads} client "
              f"threads). Each device's first request (which starts its route's tracking) is "
              "sent and processed before the clock starts (*start s*: how long processing "
              "those took); then a closed loop for "
              f"{args.duration:.0f} s (each thread sends its devices' "
              "next request as soon as the previous answered). *fixes/s*: accepted and "
              "stored (the answer); every one is then processed (the check below). "
              "*lag*: from the fix being stored to its batch's outcome committed by the "
              "processor (the `routekeeper_tracking_pipeline_lag_seconds` histogram of all "
              "server processes, interpolated within its buckets); *worst wait*: the oldest "
              "waiting fix's age at its worst (sampled each second); *drain*: how long the "
              "processor needed after the load stopped; *fixes a batch*: the fixes processed "
              "per device batch on average (each batch runs the pipeline of the device's "
              "routes once); *arrival lag*: from the fix that "
              "completed a stop's dwell reaching the server to its `arrived` event being "
              "written; *tail %*: of the route states the processor wrote, the share appended "
              "to the route's tail rather than written whole (docs/tracking.md); *uploads a "
              "group*: the uploads an upload writer wrote in one transaction on average.", "",
              "| path | devices | requests | fixes/s | request p50 ms | request p99 ms | "
              "errors | lag p50 s | lag p99 s | worst wait s | drain s | fixes a batch | "
              "arrivals | arrival lag p50 s | arrival lag p99 s | start s | tail % | "
              "uploads a group |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
              "---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for phase in phases:
        r = phase.load
        lines.append(
            f"| {phase.name} | {phase.devices:,} | {r.requests:,} | {r.rate:,.0f} | "
            f"{r.quantile(0.5):.1f} | {r.quantile(0.99):.1f} | {r.errors} | "
            f"{fmt(phase.lag_p50)} | {fmt(phase.lag_p99)} | {fmt(phase.max_backlog_age, 1)} | "
            f"{fmt(phase.drain_s, 1)} | "
            f"{fmt(phase.lag_fixes / phase.batches if phase.batches else math.nan, 1)} | "
            f"{len(phase.arrival_lags)} | "
            f"{fmt(quantile(phase.arrival_lags, 0.5))} | "
            f"{fmt(quantile(phase.arrival_lags, 0.99))} | {fmt(phase.start_s, 1)} | "
            f"{fmt(100 * phase.tail_share, 0)} | {fmt(phase.group_uploads, 1)} |")
    lines += ["", "CPU per request in the same windows (server: uvicorn processes with their "
              "processors, and the worker processes; *of which worker*: the `routekeeper "
              "worker` processes alone, in the split layout; PostgreSQL: its backends; client: "
              "the load generator):", "",
              "| path | server ms | of which worker ms | PostgreSQL ms | client ms |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for phase in phases:
        r = phase.load
        lines.append(f"| {phase.name} | {r.cpu_ms_per_request('server'):.2f} | "
                     f"{fmt(r.cpu_ms_per_request('worker'))} | "
                     f"{r.cpu_ms_per_request('postgres'):.2f} | "
                     f"{r.cpu_ms_per_request('client'):.2f} |")
    if soak is not None:
        lines += ["", "## Soak", "",
                  f"{args.soak_devices:,} phones, each sending one OsmAnd fix every "
                  f"{1 / args.soak_hz:g} s as its drive goes (paced, not closed loop: "
                  f"{args.soak_devices * args.soak_hz:,.0f} fixes a second offered), for "
                  f"{soak.seconds:.0f} s; {soak.requests:,} requests, {soak.errors} errors "
                  f"(answers by status: {soak.statuses}), request p50 "
                  f"{quantile(soak.latencies_ms, 0.5):.1f} ms, p99 "
                  f"{quantile(soak.latencies_ms, 0.99):.1f} ms"
                  + ("" if soak.lag_s is None else
                     f", pipeline lag p50 {soak.lag_s[0]:.2f} s, p99 {soak.lag_s[1]:.2f} s")
                  + f". Every {args.window:.0f} s:", "",
                  "| t s | requests/s | request p99 ms | waiting fixes | oldest waiting s | "
                  "server RSS MB | load 1 min |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in soak.windows:
            lines.append(f"| {row['t']:.0f} | {row['requests/s']:,.0f} | {fmt(row['p99 ms'], 1)}"
                         f" | {row['waiting']:,.0f} | {row['oldest s']:.1f} | "
                         f"{row['server MB']:,.0f} | {row['load']:.1f} |")
    if kill is not None:
        paced, check = kill
        lines += ["", "## Kill and restart", "",
                  f"{args.kill_devices:,} devices sending batches of {args.batch} as their "
                  f"5 Hz drives go (drives begun {args.kill_lead:.0f} s earlier, so the first "
                  f"minute catches up), {paced.seconds:.0f} s; at {args.kill_at:.0f} s one of "
                  f"the processes with processor threads (pid {check.killed_pid}) gets SIGKILL "
                  "and a new one starts (" + ("the bench starts it, as systemd would"
                                              if args.worker_processes else "uvicorn's") +
                  f"; {check.processes_after} server processes at the end). "
                  f"{paced.requests:,} requests, {paced.errors} not answered 200 (by status: "
                  f"{paced.statuses}; 0 is no answer on a fresh connection either, not "
                  "retried further; the others are retried until answered).", "",
                  "| check | count |", "| --- | ---: |",
                  f"| fixes answered 200 | {check.answered:,} |",
                  f"| of those, missing from `position` | {check.answered_missing:,} |",
                  f"| positions stored (these devices) | {check.stored:,} |",
                  f"| fixes the route states took in, after the drain | {check.processed:,} |",
                  f"| `arrived` events / orders with `arrived_at` | {check.arrived_events:,} / "
                  f"{check.arrived_orders:,} |",
                  f"| orders with more than one `arrived` event | {check.doubled_orders:,} |",
                  f"| `exited` events / orders with `exited_at` | {check.exited_events:,} / "
                  f"{check.exited_orders:,} |",
                  f"| drain after the load, s | {fmt(check.drain_s, 1)} |"]
    return "\n".join(lines) + "\n"


def bench_fleet(args: argparse.Namespace, command: str) -> str:
    """Every part of the fleet-scale benchmark on one fresh PostgreSQL database."""
    from routekeeper.accounts.service import create_account
    from routekeeper.db.engine import Database
    from routekeeper.settings import DatabaseSettings

    url, drop = fresh_database("postgresql", args.pg_server)
    multiproc = tempfile.mkdtemp(prefix="rk-bench-metrics-")
    loads: dict[str, tuple[float, float, float]] = {}
    try:
        database = Database(DatabaseSettings(url=url))
        with database.write() as session:
            creds = create_account(session, name="bench")
        database.dispose()
        server = start_server(url, workers=args.workers, gc_freeze=args.gc_freeze, extra_env={
            "PROMETHEUS_MULTIPROC_DIR": multiproc, "ROUTEKEEPER_METRICS__TOKEN": METRICS_TOKEN,
            "ROUTEKEEPER_LIMITS__REQUESTS": _setup_limits()},
            worker_processes=args.worker_processes, uvicorn_http=args.uvicorn_http)
        engine = _engine(url)
        try:
            account = (creds.account_id, creds.secret_key)
            soon = datetime.now(UTC) + timedelta(minutes=5)
            fleets = {prefix: setup_fleet(server.base, devices=count, stops=args.stops,
                                          prefix=prefix, seed=args.seed, account=account,
                                          starts_at=soon, threads=8)
                      for prefix, count in (("s", args.osmand_devices), ("b", args.devices),
                                            ("k", args.soak_devices),
                                            ("x", args.kill_devices)) if count}
            settle_statistics(engine)

            def probes() -> dict[str, Callable[[], dict[int, float]]]:
                pids = server.pids()
                SERVER_PIDS[:] = pids
                workers = [worker.pid for worker in server.workers]
                found: dict[str, Callable[[], dict[int, float]]] = {
                    "server": lambda: process_cpu_s(pids),
                    "postgres": lambda: process_cpu_s(postgres_backends(url))}
                if workers:
                    found["worker"] = lambda: process_cpu_s(workers)
                return found

            phases: list[Phase] = []
            if "s" in fleets:
                start = datetime.now(UTC)
                for index, device in enumerate(fleets["s"]):
                    drive(device, start, np.random.default_rng([args.seed, 8, index]),
                          hz=1.0, limit=int(args.duration * 2) + 10)
                loads["single"] = os.getloadavg()
                phases.append(_throughput_phase(
                    "single (OsmAnd)", server.base, fleets["s"], mode="osmand", batch=1,
                    threads=args.osmand_threads, duration_s=args.duration, engine=engine,
                    account_id=creds.account_id, prefix="s", probes=probes()))
            if "b" in fleets:
                start = datetime.now(UTC)
                per_device = math.ceil(args.expect * args.duration / args.devices
                                       / args.batch + 2) * args.batch
                for index, device in enumerate(fleets["b"]):
                    drive(device, start, np.random.default_rng([args.seed, 7, index]),
                          hz=args.hz, limit=per_device)
                loads["batch"] = os.getloadavg()
                phases.append(_throughput_phase(
                    f"batch of {args.batch}", server.base, fleets["b"], mode="batch",
                    batch=args.batch, threads=args.threads, duration_s=args.duration,
                    engine=engine, account_id=creds.account_id, prefix="b", probes=probes()))
            soak = None
            if "k" in fleets:
                start = datetime.now(UTC) + timedelta(seconds=2)
                for index, device in enumerate(fleets["k"]):
                    # Phones are not in step: each starts at its own point of the interval.
                    phase = timedelta(seconds=index / len(fleets["k"]) / args.soak_hz)
                    drive(device, start + phase, np.random.default_rng([args.seed, 9, index]),
                          hz=args.soak_hz, limit=int(args.soak_duration * args.soak_hz) + 5)
                loads["soak"] = os.getloadavg()

                def sample() -> dict[str, float]:
                    waiting, age = backlog(engine)
                    return {"waiting": waiting, "oldest s": age,
                            "server MB": rss_mb(server.pids()),
                            "load": os.getloadavg()[0]}

                before = lag_histogram(scrape(server.base))
                soak = run_paced(server.base, fleets["k"], mode="osmand", batch=1,
                                 threads=args.soak_threads, duration_s=args.soak_duration,
                                 window_s=args.window, sample=sample)
                wait_drained(engine)
                # Every fix sent, its processing after the load included.
                after = lag_histogram(scrape(server.base))
                soak.lag_s = (histogram_quantile(before, after, 0.5),
                              histogram_quantile(before, after, 0.99))
            kill = None
            if "x" in fleets:
                start = datetime.now(UTC) - timedelta(seconds=args.kill_lead)
                for index, device in enumerate(fleets["x"]):
                    drive(device, start, np.random.default_rng([args.seed, 10, index]),
                          hz=5.0, limit=int((args.kill_lead + args.kill_duration) * 5))
                loads["kill"] = os.getloadavg()
                killed = {"pid": 0}

                def kill_one() -> None:
                    killed["pid"] = server.kill_processor()

                paced = run_paced(server.base, fleets["x"], mode="batch", batch=args.batch,
                                  threads=args.threads, duration_s=args.kill_duration,
                                  window_s=args.window,
                                  sample=lambda: {"waiting": backlog(engine)[0]},
                                  at={args.kill_at: kill_one})
                drain_s = wait_drained(engine)
                counts = kill_check(engine, creds.account_id, "x", paced)
                kill = (paced, Check(*counts, killed["pid"], len(server.pids()) - 1, drain_s))
            loads["end"] = os.getloadavg()
        finally:
            server.stop()
            engine.dispose()
        return render_fleet(args, command, phases, soak, kill, loads)
    finally:
        drop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--devices", type=int, default=1600, help="batch devices")
    parser.add_argument("--hz", type=float, default=5.0,
                        help="fixes a second of each batch device")
    parser.add_argument("--osmand-devices", type=int, default=2000,
                        help="phones of the single-fix phase")
    parser.add_argument("--osmand-threads", type=int, default=32)
    parser.add_argument("--expect", type=float, default=20_000,
                        help="positions/s the batch fixes are generated for")
    parser.add_argument("--stops", type=int, default=12)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="separate `routekeeper worker` processes running the tracking "
                             "processor (docs/deploy.md's layout); 0: in the server processes")
    parser.add_argument("--workers", type=int, default=2,
                        help="uvicorn worker processes")
    parser.add_argument("--duration", type=float, default=45.0)
    parser.add_argument("--soak-devices", type=int, default=1000)
    parser.add_argument("--soak-threads", type=int, default=32)
    parser.add_argument("--soak-duration", type=float, default=600.0)
    parser.add_argument("--soak-hz", type=float, default=1.0,
                        help="fixes a second each soak phone sends (its drive's rate)")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--kill-devices", type=int, default=300)
    parser.add_argument("--kill-duration", type=float, default=90.0)
    parser.add_argument("--kill-lead", type=float, default=300.0)
    parser.add_argument("--kill-at", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gc-freeze", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--uvicorn-http", action="store_true",
                        help="serve with uvicorn's own HTTP protocol, not the service's corked "
                             "one (to measure what it changes)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    command = "PYTHONPATH=src .venv/bin/python bench/ingest.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    report = bench_fleet(args, command)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
