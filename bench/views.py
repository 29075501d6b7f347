"""Benchmark: open live-view streams must not slow the authenticated API; writes
docs/benchmarks/views.md.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python bench/views.py [--streams 2000] [--db sqlite|postgresql]

A fresh, migrated database; ``routekeeper serve`` semantics (uvicorn, one process, job runner
included) in a subprocess on 127.0.0.1; one account with ``--routes`` tracked routes of
``--stops`` orders each and a device per route. Then:

1. *idle*: ``--requests`` sequential ``GET /orders/?limit=50`` (HTTP Basic), p50 and p95;
2. *streams*: ``--streams`` ``GET /t/{tracking_id}/events`` held open (spread over every
   order's share link) while every device posts a position each second, so feeds rebuild;
   the same requests are timed again, and every stream must have received its first state.

The check: the p50 with the streams open is within 20 % of the idle p50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "views.md"
PORT = 11610  # this engineer's range on the shared machine
ORIGIN = (24.94, 60.17)


def _database(kind: str, pg_server: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text

    from routekeeper.db import migrate

    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='rk-views-bench-')}/bench.db"
        migrate.upgrade(url)
        return url, lambda: None
    name = f"i16_views_{secrets.token_hex(3)}"
    admin = create_engine(pg_server.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _serve(url: str, streams: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ROUTEKEEPER_DATABASE__URL": url,
           "ROUTEKEEPER_SECRET_KEY": secrets.token_urlsafe(32),
           "ROUTEKEEPER_VIEWS__MAX_STREAMS": str(streams + 100),
           "ROUTEKEEPER_VIEWS__MAX_STREAMS_PER_CLIENT": str(streams + 100),
           "ROUTEKEEPER_VIEWS__MAX_STREAMS_PER_VIEW": str(streams + 100),
           "PYTHONPATH": str(REPO_ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "routekeeper.cli.main", "serve", "--host", "127.0.0.1",
         "--port", str(PORT), "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1):
                if httpx.get(f"http://127.0.0.1:{PORT}/health").status_code == 200:
                    return process
        except (OSError, httpx.HTTPError):
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _setup(url: str, base: str, routes: int, stops: int) -> tuple[Any, list[str],
                                                                     list[tuple[str, str]]]:
    """An account with tracked routes; (basic auth, share tracking ids, device keys)."""
    from routekeeper.accounts.service import create_account
    from routekeeper.db.engine import Database
    from routekeeper.settings import DatabaseSettings

    db = Database(DatabaseSettings(url=url))
    with db.write() as session:
        creds = create_account(session, name="Views bench", contact_email=None)
    db.dispose()
    auth = (creds.account_id, creds.secret_key)
    client = httpx.Client(base_url=base, auth=auth, timeout=60)
    tracking: list[str] = []
    devices: list[tuple[str, str]] = []
    soon = datetime.now(UTC) + timedelta(hours=2)
    for r in range(routes):
        worker = f"w{r}"
        client.post("/workers/", json={"worker_handle": worker, "name": f"Driver {r}"}
                    ).raise_for_status()
        created = client.post("/devices/", json={"device_id": f"d{r}", "worker_handle": worker})
        created.raise_for_status()
        devices.append((f"d{r}", created.json()["ingest_key"]))
        orders = [{"order_handle": f"r{r}-o{s}", "scheduled_at": _ts(soon + timedelta(
                       minutes=10 * s)),
                   "destination": {"geometry": {"type": "Point", "coordinates": [
                       ORIGIN[0] + 0.01 * s, ORIGIN[1] + 0.002 * r]}, "radius": 50,
                       "address": f"Stop {s}"}}
                  for s in range(stops)]
        track = client.post("/orders/track", json={"track_mode": "on_time",
                                                   "worker_handle": worker, "orders": orders})
        track.raise_for_status()
        for order in orders:
            share = client.get(f"/orders/{order['order_handle']}").json()["share_url"]
            tracking.append(share.rsplit("/", 1)[-1])
    # Enough orders in the list answer to make it a realistic API call.
    client.close()
    return auth, tracking, devices


def _latencies(base: str, auth: Any, n: int) -> list[float]:
    """``n`` timed API calls in a row (run in a process of its own: the API's client is not
    the browsers holding the streams, and must not wait for their frames' parsing)."""
    timings: list[float] = []
    with httpx.Client(base_url=base, auth=auth, timeout=60) as client:
        client.get("/orders/", params={"limit": 50}).raise_for_status()
        for _ in range(n):
            started = time.perf_counter()
            client.get("/orders/", params={"limit": 50}).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _hold_streams(base: str, tracking: list[str], streams: int,
                        opened: asyncio.Event, stop: asyncio.Event,
                        counts: dict[str, int]) -> None:
    """Open ``streams`` share-page streams and read them until ``stop``."""
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits,
                                 timeout=httpx.Timeout(120, pool=None)) as client:
        async def one(i: int) -> None:
            path = f"/t/{tracking[i % len(tracking)]}/events"
            try:
                async with client.stream("GET", path) as response:
                    if response.status_code != 200:
                        counts["refused"] += 1
                        return
                    first = True
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            counts["frames"] += 1
                            if first:
                                counts["open"] += 1
                                first = False
                                if counts["open"] >= streams:
                                    opened.set()
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                counts["errors"] += 1

        tasks = []
        for i in range(streams):
            tasks.append(asyncio.create_task(one(i)))
            if i % 100 == 99:
                await asyncio.sleep(0.2)  # connect in waves, like page loads
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drive(base: str, devices: list[tuple[str, str]], stop: asyncio.Event) -> int:
    """Every device posts one position a second (views change, feeds rebuild)."""
    posted = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        step = 0
        while not stop.is_set():
            now = datetime.now(UTC)
            for r, (device_id, key) in enumerate(devices):
                body = {"locations": [{"recorded_at": _ts(now), "geometry": {
                    "type": "Point", "coordinates": [ORIGIN[0] + 0.0001 * step,
                                                     ORIGIN[1] + 0.002 * r]}}]}
                await client.post(f"/devices/{device_id}/locations", json=body,
                                  headers={"Authorization": f"Bearer {key}"})
                posted += 1
            step += 1
            await asyncio.sleep(1.0)
    return posted


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(base: str, auth: Any, n: int, pid: int) -> tuple[list[float], float]:
    """The phase's request latencies and the server's CPU share meanwhile (1.0 = one core):
    the streams' own cost, whatever else the machine is doing."""
    cpu, wall = _cpu_s(pid), time.monotonic()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        latencies = await asyncio.get_running_loop().run_in_executor(
            pool, _latencies, base, auth, n)
    return latencies, (_cpu_s(pid) - cpu) / (time.monotonic() - wall)


def _summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


async def _phases(base: str, auth: Any, tracking: list[str],
                  devices: list[tuple[str, str]], args: argparse.Namespace, pid: int
                  ) -> dict[str, Any]:
    """Idle (positions flowing, no stream), streams open, idle again; the same requests
    timed in each phase, so the streams are the only difference."""
    opened, stop, stop_driver = asyncio.Event(), asyncio.Event(), asyncio.Event()
    counts = {"open": 0, "frames": 0, "refused": 0, "errors": 0}
    driver = asyncio.create_task(_drive(base, devices, stop_driver))
    await asyncio.sleep(3)
    idle_before, cpu_before = await _timed(base, auth, args.requests, pid)
    holder = asyncio.create_task(_hold_streams(base, tracking, args.streams, opened, stop,
                                               counts))
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(opened.wait(), timeout=300)
    open_s = time.monotonic() - started
    await asyncio.sleep(5)  # steady state: feeds rebuilt, positions flowing
    timings, cpu_open = await _timed(base, auth, args.requests, pid)
    frames_before = counts["frames"]
    await asyncio.sleep(3)
    delivered = counts["frames"] - frames_before
    stop.set()
    await holder
    await asyncio.sleep(3)
    idle_after, cpu_after = await _timed(base, auth, args.requests, pid)
    stop_driver.set()
    posted = await driver
    return {"idle_before": idle_before, "idle_after": idle_after,
            "timings": timings, "open": counts["open"], "refused": counts["refused"],
            "errors": counts["errors"], "open_s": open_s, "frames_3s": delivered,
            "posted": posted, "cpu": (cpu_before, cpu_open, cpu_after)}


def main() -> None:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--routes", type=int, default=20)
    parser.add_argument("--stops", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    url, drop = _database(args.db, args.pg_server)
    server = _serve(url, args.streams)
    base = f"http://127.0.0.1:{PORT}"
    try:
        auth, tracking, devices = _setup(url, base, args.routes, args.stops)
        load_before = os.getloadavg()
        loaded = asyncio.run(_phases(base, auth, tracking, devices, args, server.pid))
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(30)
        drop()
    before_p50, before_p95 = _summary(loaded["idle_before"])
    after_p50, after_p95 = _summary(loaded["idle_after"])
    idle_p50, _ = _summary(loaded["idle_before"] + loaded["idle_after"])
    busy_p50, busy_p95 = _summary(loaded["timings"])
    ratio = busy_p50 / idle_p50
    verdict = "within" if ratio <= 1.2 else "NOT within"
    cpu_before, cpu_open, cpu_after = (100 * share for share in loaded["cpu"])
    title = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[args.db]
    section = f"""## {title}

Run: `PYTHONPATH=src .venv/bin/python bench/views.py --streams {args.streams} --db {args.db}`
({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores; load
average {load_before[0]:.1f} before, {load_after[0]:.1f} after: the client, the server and the
database share these cores{", with other work running" if load_before[0] > 1.5 else ""}).

Setup: {args.db}, one server process (uvicorn, job runner included), one account with
{args.routes} tracked routes of {args.stops} orders, one device per route posting a position
every second throughout. The streams are `GET /t/{{tracking_id}}/events` spread
over all {len(tracking)} share links. The API call timed is `GET /orders/?limit=50` with HTTP
Basic, {args.requests} times in a row, from one client in a process of its own (not the one
holding the streams). "Server CPU" is the server process's
CPU time over the phase's wall time (100 % = one core), the streams' own cost whatever else
the machine does.

| phase | open streams | p50 ms | p95 ms | server CPU |
|---|---:|---:|---:|---:|
| idle, before | 0 | {before_p50:.1f} | {before_p95:.1f} | {cpu_before:.0f} % |
| streams open | {loaded['open']:,} | {busy_p50:.1f} | {busy_p95:.1f} | {cpu_open:.0f} % |
| idle, after | 0 | {after_p50:.1f} | {after_p95:.1f} | {cpu_after:.0f} % |

p50 with the streams open / p50 of both idle phases ({idle_p50:.1f} ms): **{ratio:.2f}**
({verdict} the 20 % target). Positions are posted in all three phases, so the streams are
the only difference.
Streams refused: {loaded['refused']}, failed: {loaded['errors']}; all {loaded['open']:,} had
their first state after {loaded['open_s']:.1f} s; {loaded['frames_3s']:,} state frames reached
the streams in 3 s of the timed phase; {loaded['posted']:,} positions were posted meanwhile.
"""
    _write_section(args.output, title, section)
    print(section)


HEADER = """# Live views against the API: 2,000 open streams

Each stream used to poll the database every second (400 streams took the p50 from about
10 ms to 7-10 s, issue 16). Now one watcher thread per process reads the change marks of every
watched view in one query per second and rebuilds a view only when its marks move, the stalest
first and within a time budget per tick; its frame goes to all of that view's streams, and
heartbeats are written without a query (`views/live.py`). `bench/views.py` keeps one section
per database below and rewrites only the one it ran.
"""


def _write_section(output: Path, title: str, section: str) -> None:
    """Replace this database's section of the report (or add it), keeping the others."""
    sections: dict[str, str] = {}
    if output.exists():
        for part in output.read_text().split("\n## ")[1:]:
            name = part.split("\n", 1)[0].strip()
            sections[name] = "## " + part.rstrip() + "\n"
    sections[title] = section
    ordered = [sections[name] for name in ("SQLite", "PostgreSQL") if name in sections]
    output.write_text(HEADER + "\n" + "\n".join(ordered))


if __name__ == "__main__":
    main()
