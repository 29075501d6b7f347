"""Benchmark the order export job and write docs/benchmarks/export.md.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, as in CI):

    PYTHONPATH=src .venv/bin/python bench/export.py --rows 1000000

For each backend (a fresh PostgreSQL database, a fresh SQLite file) it bulk-inserts the
orders (COPY / executemany, not the API), then runs the ``exports.generate`` job handler in
a separate process that reports its wall time and its peak RSS (``ru_maxrss``), once for
every order and once for a tenth of them (a ``created_at_to`` filter) to show that memory
does not grow with the rows. On PostgreSQL it also times the ceiling: the very same SELECT
through ``psql -c "COPY (...) TO STDOUT WITH CSV" | gzip > file``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "export.md"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
MIB = 1024 * 1024
# Orders are created over 90 days ending at this instant (fixed: reproducible data).
EPOCH_END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_S = 90 * 24 * 3600
STATUSES = ("unplanned", "planned", "assigned", "ongoing", "completed", "cancelled")

_COLUMNS = (
    "account_id", "id", "order_handle", "fulfillment_attempt", "type", "type_index", "status",
    "destination", "destination_lon", "destination_lat", "ops_group_handle", "plan_mode",
    "worker_handle", "scheduled_after", "scheduled_at", "expected_service_time",
    "capacity_used", "product_type", "priority", "metadata", "attachments", "risk_status",
    "previous_fulfillments", "tracking_id", "timezone", "created_at", "updated_at",
    "completed_at", "cancelled_at",
)


@dataclass(frozen=True, slots=True)
class Run:
    """One export run in a child process."""

    backend: str
    label: str
    level: int
    rows: int
    seconds: float
    cpu_seconds: float
    file_bytes: int
    peak_rss_kib: int
    rss_before_kib: int
    load: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True, slots=True)
class Ceiling:
    """``COPY (SELECT ...) TO STDOUT WITH CSV | gzip`` on PostgreSQL."""

    rows: int
    seconds: float
    cpu_seconds: float
    file_bytes: int
    load: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _order_values(index: int, total: int, rng: random.Random) -> dict[str, Any]:
    """One order row; ``created_at`` grows with ``index`` across the 90 days."""
    created = EPOCH_END - timedelta(seconds=SPAN_S * (1 - index / total),
                                    microseconds=rng.randrange(1_000_000))
    lon, lat = -122.52 + rng.random() * 0.17, 37.70 + rng.random() * 0.11
    status = STATUSES[index % len(STATUSES)]
    scheduled_at = created + timedelta(hours=4 + index % 20)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "order_handle": f"bench-{index:08d}",
        "fulfillment_attempt": 0, "type": "pick" if index % 5 == 0 else "drop",
        "type_index": 0, "status": status,
        "destination": {"geometry": {"type": "Point", "coordinates": [round(lon, 6),
                                                                      round(lat, 6)]},
                        "radius": 100, "address": f"{index % 999 + 1} Market St, San Francisco"},
        "destination_lon": round(lon, 6), "destination_lat": round(lat, 6),
        "ops_group_handle": "default", "plan_mode": "manual",
        "worker_handle": f"worker-{index % 200}" if status != "unplanned" else None,
        "scheduled_after": scheduled_at - timedelta(hours=2), "scheduled_at": scheduled_at,
        "expected_service_time": 300, "capacity_used": 1 + index % 3,
        "product_type": ["frozen"] if index % 2 else [],
        "priority": ("low", "medium", "high")[index % 3],
        "metadata": {"customer": f"customer-{index % 5000}", "ref": f"R{index}"},
        "attachments": [], "risk_status": index % 7 == 0, "previous_fulfillments": [],
        "tracking_id": f"t{index:010d}", "timezone": "America/Los_Angeles",
        "created_at": created, "updated_at": created,
        "completed_at": scheduled_at if status == "completed" else None,
        "cancelled_at": scheduled_at if status == "cancelled" else None,
    }


def _pg_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _sqlite_value(value: Any) -> Any:
    # The formats SQLAlchemy's types keep on SQLite (UTCDateTime: naive UTC text with
    # microseconds; JSON: json.dumps text; Boolean: 0/1).
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def insert_postgres(url: str, account_id: str, rows: int, seed: int) -> float:
    """COPY ``rows`` orders into the database; returns the seconds taken."""
    import psycopg

    rng = random.Random(seed)
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            columns = ", ".join(_COLUMNS)
            with cur.copy(f'COPY "order" ({columns}) FROM STDIN') as copy:
                buffer = io.StringIO()
                for index in range(rows):
                    values = {"account_id": account_id, **_order_values(index, rows, rng)}
                    buffer.write("\t".join(_pg_text(values[c]) for c in _COLUMNS))
                    buffer.write("\n")
                    if index % 20_000 == 19_999:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
        conn.commit()
        conn.execute('ANALYZE "order"')
    return time.perf_counter() - started


def insert_sqlite(path: Path, account_id: str, rows: int, seed: int) -> float:
    """executemany ``rows`` orders into the SQLite file; returns the seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    placeholders = ", ".join("?" for _ in _COLUMNS)
    sql = f'INSERT INTO "order" ({", ".join(_COLUMNS)}) VALUES ({placeholders})'
    chunk: list[tuple[Any, ...]] = []
    for index in range(rows):
        values = {"account_id": account_id, **_order_values(index, rows, rng)}
        chunk.append(tuple(_sqlite_value(values[c]) for c in _COLUMNS))
        if len(chunk) == 20_000:
            conn.executemany(sql, chunk)
            chunk.clear()
    conn.executemany(sql, chunk)
    conn.commit()
    conn.execute('ANALYZE "order"')
    conn.close()
    return time.perf_counter() - started


def _settings(url: str, export_dir: Path, batch_rows: int) -> Any:
    from routekeeper.settings import DatabaseSettings, ExportSettings, Settings

    return Settings(_env_file=None).model_copy(update={
        "database": DatabaseSettings(url=url),
        "exports": ExportSettings(local_dir=export_dir, batch_rows=batch_rows),
    })


def prepare(url: str, rows: int, seed: int) -> tuple[str, float]:
    """Migrate a fresh database, create an account and insert the orders."""
    from routekeeper.accounts.service import create_account
    from routekeeper.db import migrate
    from routekeeper.db.engine import Database
    from routekeeper.settings import DatabaseSettings

    migrate.upgrade(url)
    db = Database(DatabaseSettings(url=url))
    with db.write() as session:
        account_id = create_account(session, name="Bench", contact_email=None).account_id
    db.dispose()
    if url.startswith("sqlite"):
        seconds = insert_sqlite(Path(url.removeprefix("sqlite:///")), account_id, rows, seed)
    else:
        seconds = insert_postgres(url, account_id, rows, seed)
    return account_id, seconds


def child(args: argparse.Namespace) -> None:
    """Create one export, run its job handler in this process, print the measurements."""
    from routekeeper.core.jobs import JobRunner
    from routekeeper.db.engine import Database
    from routekeeper.exports import service, writer
    from routekeeper.exports import tasks as _tasks  # noqa: F401 - registers the handlers
    from routekeeper.exports.schemas import OrderExportRequest

    writer.GZIP_LEVEL = args.gzip_level

    settings = _settings(args.url, Path(args.export_dir), args.batch_rows)
    db = Database(settings.database)
    with db.write() as session:
        export = service.create_export(
            session, args.account_id, OrderExportRequest.model_validate(json.loads(args.filters)),
            contact_email=None, idempotency_key=None,
        )
        export_id = export.id
    runner = JobRunner(db, settings.jobs)
    runner.context["settings"] = settings
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    ran = runner.run_until_idle()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with db.read() as session:
        done = service.get_export(session, args.account_id, export_id)
        result = {"status": done.status, "rows": done.rows_processed,
                  "file_bytes": done.size_bytes or 0, "jobs": ran}
    db.dispose()
    print(json.dumps({**result, "seconds": seconds, "cpu_seconds": cpu,
                      "peak_rss_kib": after.ru_maxrss, "rss_before_kib": before.ru_maxrss}))


def run_child(backend: str, label: str, url: str, account_id: str, filters: dict[str, Any],
              export_dir: Path, args: argparse.Namespace, level: int) -> Run:
    """Run one export in a fresh interpreter and collect its numbers."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--url", url,
               "--account-id", account_id, "--filters", json.dumps(filters),
               "--export-dir", str(export_dir), "--batch-rows", str(args.batch_rows),
               "--gzip-level", str(level)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    data = json.loads(output.stdout.strip().splitlines()[-1])
    if data["status"] != "completed":
        raise RuntimeError(f"export ended {data['status']}: {output.stderr[-2000:]}")
    return Run(backend, label, level, data["rows"], data["seconds"], data["cpu_seconds"],
               data["file_bytes"], data["peak_rss_kib"], data["rss_before_kib"],
               os.getloadavg()[0])


def copy_ceiling(url: str, account_id: str, out: Path) -> Ceiling:
    """Time ``psql -c "COPY (<the export's SELECT>) TO STDOUT WITH CSV" | gzip > out``."""
    from routekeeper.db.engine import Database
    from routekeeper.exports.columns import export_columns
    from routekeeper.models.order import Order
    from routekeeper.orders.filters import OrderFilters
    from routekeeper.orders.repository import filtered
    from routekeeper.settings import DatabaseSettings

    db = Database(DatabaseSettings(url=url))
    with db.read() as session:
        query = filtered(session, account_id, OrderFilters.model_validate({}))
        cells = [c.expression.label(c.name) for c in export_columns("http://127.0.0.1:8000")]
        select = query.with_only_columns(*cells, maintain_column_froms=True).order_by(
            Order.created_at.desc(), Order.id.desc())
        sql = str(select.compile(dialect=db.engine.dialect,
                                 compile_kwargs={"literal_binds": True}))
    db.dispose()
    psql_url = url.replace("postgresql+psycopg://", "postgresql://")
    copy_sql = f"COPY ({sql}) TO STDOUT WITH CSV HEADER"
    pipeline = f"psql {shlex.quote(psql_url)} -c {shlex.quote(copy_sql)} | gzip > {out}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], check=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # psql's and gzip's CPU; the server's share (the SELECT) is not in it, as for exports.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = int(subprocess.run(["bash", "-c", f"gzip -dc {out} | wc -l"], check=True,
                              capture_output=True, text=True).stdout) - 1
    return Ceiling(rows, seconds, cpu, out.stat().st_size, os.getloadavg()[0])


def _tenth_filter() -> dict[str, Any]:
    # created_at grows with the index: the first tenth of the span holds a tenth of them.
    cutoff = EPOCH_END - timedelta(seconds=SPAN_S * 0.9)
    return {"created_at_to": cutoff.strftime("%Y-%m-%d %H:%M:%S")}


def machine() -> dict[str, str]:
    """CPU model, cores and RAM of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(int(line.split()[1]) for line in
                       Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal"))
        ram = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    cores = f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()} logical"
    return {"cpu": cpu, "cores": cores, "ram": ram, "os": f"{platform.system()} "
            f"{platform.release()}", "python": platform.python_version()}


def _best(runs: list[Run], backend: str, label: str, level: int) -> Run:
    return min((r for r in runs
                if r.backend == backend and r.label == label and r.level == level),
               key=lambda r: r.seconds)


def render(args: argparse.Namespace, runs: list[Run], ceilings: list[Ceiling],
           inserts: dict[str, float], command: str) -> str:
    """The Markdown report."""
    info = machine()
    lines = [
        "# Order export benchmark", "",
        f"Generated by `bench/export.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
        "## Machine", "",
        f"- CPU: {info['cpu']}", f"- Cores: {info['cores']}", f"- RAM: {info['ram']}",
        f"- OS: {info['os']}", f"- Python: {info['python']}", "",
        "## Command", "", "```sh", command, "```", "",
        "## Results", "",
        f"{args.rows:,} orders of one account were bulk-inserted ("
        + ", ".join(f"{name}: {secs:.0f} s" for name, secs in inserts.items())
        + "). Each export ran the `exports.generate` handler in a fresh child process "
        f"(`batch_rows` = {args.batch_rows:,}, the gzip level as shown): *seconds* is "
        "its wall time (claim, snapshot read, CSV, gzip, fsync, rename, final "
        "transaction), *CPU s* the child's user + system time (the database server's share "
        "is not in it), *peak RSS* the child's `ru_maxrss`, *before* its RSS after imports "
        "and setup, just before the job ran; *load* is the 1-minute load average when the "
        f"run ended. Full exports ran {args.repeat} times, interleaved with the COPY "
        "ceiling on PostgreSQL; the table shows every run, and the summary the fastest.", "",
        "| backend | export | gzip level | rows | seconds | rows/s | CPU s | file MiB "
        "| peak RSS MiB | before MiB | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.backend} | {run.label} | {run.level} | {run.rows:,} | {run.seconds:.1f} | "
            f"{run.rows_per_s:,.0f} | {run.cpu_seconds:.1f} | {run.file_bytes / MIB:.1f} | "
            f"{run.peak_rss_kib / 1024:.0f} | {run.rss_before_kib / 1024:.0f} | "
            f"{run.load:.1f} |")
    if ceilings:
        lines += [
            "", "Ceiling on PostgreSQL: the same SELECT (same columns, rendering and order) "
            "through `psql -c \"COPY (...) TO STDOUT WITH CSV HEADER\" | gzip > file` "
            "(gzip's default level, 6); *CPU s* is psql's and gzip's:", "",
            "| rows | seconds | rows/s | CPU s | file MiB | load |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for ceiling in ceilings:
            lines.append(
                f"| {ceiling.rows:,} | {ceiling.seconds:.1f} | {ceiling.rows_per_s:,.0f} | "
                f"{ceiling.cpu_seconds:.1f} | {ceiling.file_bytes / MIB:.1f} | "
                f"{ceiling.load:.1f} |")
        best_copy = min(ceilings, key=lambda c: c.seconds)
        lines += ["", f"Summary, fastest runs (COPY | gzip: {best_copy.rows_per_s:,.0f} rows/s, "
                  f"{best_copy.cpu_seconds:.1f} CPU s):", ""]
        for level in args.levels:
            best_pg = _best(runs, "PostgreSQL", "all", level)
            lines.append(
                f"- PostgreSQL export at gzip level {level}: {best_pg.rows_per_s:,.0f} rows/s, "
                f"**{best_pg.rows_per_s / best_copy.rows_per_s:.2f}** of the ceiling's rows/s; "
                f"{best_pg.cpu_seconds / best_copy.cpu_seconds:.1f}x its client CPU.")
    peaks = [r.peak_rss_kib / 1024 for r in runs]
    lines += ["", f"Peak RSS over all export runs: **{max(peaks):.0f} MiB** "
              f"(smallest {min(peaks):.0f} MiB)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments and run the benchmark (or, with --child, one export)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=5000)
    parser.add_argument("--gzip-levels", default="1,6",
                        help="levels to run the full exports at (the first is the default's)")
    parser.add_argument("--gzip-level", type=int, default=6, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-server", default=DEFAULT_PG)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account-id", help=argparse.SUPPRESS)
    parser.add_argument("--filters", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--export-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.levels = [int(level) for level in args.gzip_levels.split(",")]
    command = "PYTHONPATH=src .venv/bin/python bench/export.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    workdir = Path(tempfile.mkdtemp(prefix="rk-export-bench-"))
    runs: list[Run] = []
    inserts: dict[str, float] = {}
    ceilings: list[Ceiling] = []
    try:
        for backend in args.backends.split(","):
            if backend == "postgresql":
                _bench_postgres(args, workdir, runs, inserts, ceilings)
            elif backend == "sqlite":
                _bench_sqlite(args, workdir, runs, inserts)
            else:
                raise SystemExit(f"unknown backend {backend}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(args, runs, ceilings, inserts, command)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)


def _export(backend: str, label: str, url: str, account_id: str, args: argparse.Namespace,
            workdir: Path, runs: list[Run], level: int) -> None:
    filters = {} if label == "all" else _tenth_filter()
    run = run_child(backend, label, url, account_id, filters, workdir / "exports", args, level)
    print(f"{backend} {label} level {level}: {run.rows:,} rows in {run.seconds:.1f} s "
          f"({run.cpu_seconds:.1f} s CPU), peak RSS {run.peak_rss_kib / 1024:.0f} MiB, "
          f"load {run.load:.1f}", flush=True)
    runs.append(run)
    shutil.rmtree(workdir / "exports", ignore_errors=True)


def _bench_postgres(args: argparse.Namespace, workdir: Path, runs: list[Run],
                    inserts: dict[str, float], ceilings: list[Ceiling]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(args.pg_server.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"rk_bench_export_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        account_id, inserts["PostgreSQL COPY"] = prepare(url, args.rows, args.seed)
        print(f"PostgreSQL: inserted {args.rows:,} orders", flush=True)
        _export("PostgreSQL", "first tenth", url, account_id, args, workdir, runs, args.levels[0])
        for _ in range(args.repeat):
            for level in args.levels:
                _export("PostgreSQL", "all", url, account_id, args, workdir, runs, level)
            ceiling = copy_ceiling(url, account_id, workdir / "copy.csv.gz")
            print(f"COPY | gzip: {ceiling.rows:,} rows in {ceiling.seconds:.1f} s, "
                  f"load {ceiling.load:.1f}", flush=True)
            ceilings.append(ceiling)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _bench_sqlite(args: argparse.Namespace, workdir: Path, runs: list[Run],
                  inserts: dict[str, float]) -> None:
    url = f"sqlite:///{workdir / 'bench.db'}"
    account_id, inserts["SQLite executemany"] = prepare(url, args.rows, args.seed)
    print(f"SQLite: inserted {args.rows:,} orders", flush=True)
    _export("SQLite", "first tenth", url, account_id, args, workdir, runs, args.levels[0])
    for _ in range(args.repeat):
        for level in args.levels:
            _export("SQLite", "all", url, account_id, args, workdir, runs, level)


if __name__ == "__main__":
    main()
