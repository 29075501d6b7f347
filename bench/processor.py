"""The tracking processor's own cost per route batch, apart from everything else on the machine.

``bench/ingest.py`` measures the whole product under load: the client, the API processes, the
worker and PostgreSQL share two cores, and runs of one command differ by 15-20 %. Changes to
the processor need a steadier measure of the processor itself: here the uploads are stored
through the API (uvicorn, processing off), then this process drains the inbox with the
product's own ``processor.drain``, round after round, and counts its own CPU time and that
of PostgreSQL's backends. Each round sends every device ``--fixes`` new fixes (one request a
device), so a round's route batches hold that many fixes: 1 is the regime a lag of about a
second needs, 5 the one the fleet benchmark reaches today.

    PYTHONPATH=src .venv/bin/python bench/processor.py --devices 300 --rounds 40 --fixes 1
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (  # the benchmark's own helpers, beside this file
    Api,
    Device,
    _setup_limits,
    drive,
    fresh_database,
    postgres_backends,
    process_cpu_s,
    setup_fleet,
    start_server,
)


class GcClock:
    """The time this process spends in the cyclic garbage collector (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._began
        self.full += info["generation"] == 2


@dataclass
class Round:
    """One drain of the inbox: what it processed and what it cost."""

    fixes: int
    batches: int
    cpu_s: float
    postgres_s: float
    wall_s: float
    gc_s: float
    full_collections: int
    tails: int
    checkpoints: int
    orders_read: int


def _send_round(api: Api, fleet: list[Device], index: int, per_round: int) -> int:
    """Each device's next ``per_round`` fixes, one request a device; fixes accepted."""
    sent = 0
    for device in fleet:
        chunk = device.fixes[index * per_round:(index + 1) * per_round]
        if not chunk:
            continue
        api.headers["Authorization"] = f"Bearer {device.key}"
        status, body = api.call("POST", f"/devices/{device.device_id}/locations",
                                {"locations": chunk})
        assert status == 200, body
        sent += len(chunk)
    return sent


class OrdersRead:
    """How many routes' orders the processor read from the database (not kept in memory)."""

    def __init__(self) -> None:
        self.routes = 0

    def install(self) -> None:
        """Count through ``repository.order_rows_of_routes``, which the processor calls."""
        from routekeeper.tracking import repository

        read = repository.order_rows_of_routes

        def counted(session: Any, routes: Any) -> Any:
            self.routes += len(routes)
            return read(session, routes)

        repository.order_rows_of_routes = counted  # type: ignore[assignment]


ORDERS_READ = OrdersRead()


def _state_writes() -> dict[str, float]:
    """The processor's state writes so far, by kind (its own metric)."""
    from routekeeper.core import metrics

    return {kind: metrics.STATE_WRITES.labels(kind)._value.get()
            for kind in ("tail", "checkpoint")}


def run(args: argparse.Namespace) -> list[Round]:
    """Set up a fleet, then alternate: store a round of fixes, drain it in this process."""
    from routekeeper.accounts.service import create_account
    from routekeeper.app import create_app
    from routekeeper.core import collector
    from routekeeper.db.engine import Database
    from routekeeper.models.route import Route
    from routekeeper.settings import DatabaseSettings, Settings
    from routekeeper.tracking import processor

    url, drop = fresh_database("postgresql", args.pg_server)
    server = None
    try:
        database = Database(DatabaseSettings(url=url))
        with database.write() as session:
            creds = create_account(session, name="bench")
        database.dispose()
        # Uploads only: no processor or job runner beside the API.
        server = start_server(url, workers=1, gc_freeze=True,
                              extra_env={"ROUTEKEEPER_JOBS__RUN_IN_API": "false",
                                         "ROUTEKEEPER_LIMITS__REQUESTS": _setup_limits()})
        starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
        fleet = setup_fleet(server.base, devices=args.devices, stops=args.stops, prefix="p",
                            seed=args.seed, account=(creds.account_id, creds.secret_key),
                            starts_at=starts_at, threads=8)
        # The drives end now: fixes recorded in the future are refused, and a round of
        # ``--fixes 100`` at 1 Hz is 100 s of drive.
        start = datetime.now(UTC) - timedelta(seconds=(args.rounds + args.warmup) * args.fixes)
        for index, device in enumerate(fleet):
            drive(device, start, np.random.default_rng([args.seed, 9, index]), hz=1.0,
                  limit=(args.rounds + args.warmup) * args.fixes)
        os.environ["ROUTEKEEPER_DATABASE__URL"] = url
        app = create_app(Settings(), run_worker=False)
        ORDERS_READ.install()
        state = app.state
        # As `routekeeper worker` does once it has started (core/collector.py).
        collector.settle()
        gc_clock = GcClock()
        rounds: list[Round] = []
        # cProfile slows Python code down unevenly: its rounds' times are not the ones to quote.
        profiler = cProfile.Profile() if args.profile is not None else None
        backends = postgres_backends(url)
        for index in range(args.warmup + args.rounds):
            # A new connection each round: the server closes one idle for 5 s.
            _send_round(Api(server.base), fleet, index, args.fixes)
            pg_before = process_cpu_s(backends)
            measured = index >= args.warmup
            if measured and profiler is not None:
                profiler.enable()
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            gc_before, full_before = gc_clock.seconds, gc_clock.full
            writes_before = _state_writes()
            read_before = ORDERS_READ.routes
            done = processor.drain(state.db, state.settings, state.travel)
            writes = {kind: n - writes_before[kind] for kind, n in _state_writes().items()}
            cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
            gc_s, full = gc_clock.seconds - gc_before, gc_clock.full - full_before
            if profiler is not None:
                profiler.disable()
            backends = postgres_backends(url)
            pg_after = process_cpu_s(backends)
            pg = sum(pg_after.get(pid, 0.0) - pg_before.get(pid, 0.0) for pid in pg_after)
            if measured:
                rounds.append(Round(done, len(fleet), cpu, pg, wall, gc_s, full,
                                    writes["tail"], writes["checkpoint"],
                                    ORDERS_READ.routes - read_before))
        if profiler is not None:
            profiler.dump_stats(args.profile)
        if args.save_state is not None:
            with state.db.read() as session:
                stored = session.scalars(select(Route.track_state).where(
                    Route.track_state.is_not(None)).limit(1)).one()
            args.save_state.write_text(json.dumps(stored))
        state.db.dispose()
        return rounds
    finally:
        if server is not None:
            server.stop()
        drop()


def render(rounds: list[Round], args: argparse.Namespace) -> str:
    """The per-batch and per-fix costs as a Markdown table row."""
    fixes = sum(r.fixes for r in rounds)
    batches = sum(r.batches for r in rounds)
    cpu_ms = [r.cpu_s * 1000 / r.batches for r in rounds]
    pg_ms = [r.postgres_s * 1000 / r.batches for r in rounds]
    return (f"| {args.devices} | {args.fixes} | {len(rounds)} | {fixes:,} "
            f"| {sum(r.cpu_s for r in rounds) * 1000 / batches:.2f} "
            f"(median round {statistics.median(cpu_ms):.2f}) "
            f"| {sum(r.cpu_s for r in rounds) * 1000 / fixes:.3f} "
            f"| {sum(r.postgres_s for r in rounds) * 1000 / batches:.2f} "
            f"(median round {statistics.median(pg_ms):.2f}) "
            f"| {sum(r.gc_s for r in rounds) * 1000 / batches:.2f} "
            f"({sum(r.full_collections for r in rounds)} full) "
            f"| {batches / sum(r.wall_s for r in rounds):,.0f} "
            f"| {100 * sum(r.tails for r in rounds) / batches:.0f} % "
            f"| {100 * sum(r.orders_read for r in rounds) / batches:.0f} % |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--stops", type=int, default=12)
    parser.add_argument("--fixes", type=int, default=1, help="fixes a device a round")
    parser.add_argument("--rounds", type=int, default=40, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=5,
                        help="rounds left out (the first ETAs of every order come first)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="the rounds as JSON as well")
    parser.add_argument("--profile", type=Path,
                        help="write cProfile statistics of the measured drains there")
    parser.add_argument("--save-state", type=Path,
                        help="write one route's stored tracking state there (to study its dump)")
    args = parser.parse_args(argv)
    rounds = run(args)
    print("| devices | fixes a batch | rounds | fixes | processor CPU ms a route batch "
          "| processor CPU ms a fix | PostgreSQL ms a route batch "
          "| processor's garbage collection ms a route batch | route batches/s (wall) "
          "| state writes as tails | route batches reading their orders |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(render(rounds, args))
    if args.json:
        print(json.dumps([r.__dict__ for r in rounds]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
