"""Benchmark creating 1,000 address-only orders through the local Nominatim; writes its section
of docs/benchmarks/travel.md.

Run from the repository root, after `make geocoder-build`:

    PYTHONPATH=src .venv/bin/python bench/geocoding.py

Each run POSTs one batch of 1,000 address-only orders (manual mode) to the app in process on
a fresh SQLite database; the geocoder is the Nominatim built in var/nominatim, served on a
free loopback port. *Cold*: a fresh account, so its cache is empty and every address is a
request to Nominatim. *Warm*: the same account again with new order handles, so every address
comes from its cache. One cold run with one request in flight at a time shows what the
concurrency buys.

The 1,000 addresses (bench/data/helsinki_addresses.csv) are all different: the street
addresses of the Helsinki extract, then named places of it ("Café Ekberg, Helsinki"), each one
that this geocoder resolves to within 60 m of where OpenStreetMap has it; `--make-addresses`
picks them again from its database.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import secrets
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from plans import replace_section
from starlette.testclient import TestClient

from routekeeper.accounts.service import create_account
from routekeeper.app import create_app
from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.geocoding.local import LocalNominatim, free_port, stop, wait_ready
from routekeeper.geocoding.nominatim import AddressQuery, NominatimClient
from routekeeper.settings import DatabaseSettings, GeocodingSettings, JobSettings, Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "docs" / "benchmarks" / "travel.md"
ADDRESSES = REPO_ROOT / "bench" / "data" / "helsinki_addresses.csv"
HOME = REPO_ROOT / "var" / "nominatim"
COUNT = 1_000
PLAIN_NUMBER = re.compile(r"^\d+[a-zA-Z]?$")


def _candidates(database_url: str) -> list[tuple[str, float, float]]:
    """Street addresses of the extract, then its named places (shops, cafés, offices...),
    each with its position in OpenStreetMap's data."""
    with psycopg.connect(database_url) as conn:
        houses = conn.execute(
            "SELECT address->'street', housenumber, ST_X(centroid), ST_Y(centroid) "
            "FROM placex WHERE housenumber IS NOT NULL AND address ? 'street' "
            "ORDER BY 1, 2").fetchall()
        named = conn.execute(
            "SELECT name->'name', ST_X(centroid), ST_Y(centroid) FROM placex "
            "WHERE rank_search = 30 AND name ? 'name' AND class IN "
            "('amenity', 'shop', 'tourism', 'office', 'leisure', 'craft', 'historic') "
            "ORDER BY 1").fetchall()
    out = [(f"{street} {number}, Helsinki", lon, lat) for street, number, lon, lat in houses
           if PLAIN_NUMBER.match(str(number))]
    out += [(f"{name}, Helsinki", lon, lat) for name, lon, lat in named]
    return out


def make_addresses(url: str, dsn_url: str) -> None:
    """Pick 1,000 different addresses of the extract that the geocoder finds where they are.

    The central Helsinki extract has about 500 plain street addresses; the rest are named
    places ("Café Ekberg, Helsinki"), which order systems send as addresses too.
    """
    record = LocalNominatim(HOME).record() or {}
    candidates = _candidates(dsn_url.rsplit("/", 1)[0] + "/" + str(record["database"]))
    client = NominatimClient(url, timeout_s=10, accept_language="en")
    kept: list[tuple[str, float, float]] = []
    seen: set[str] = set()
    for address, lon, lat in candidates:
        if address.casefold() in seen:
            # One query per address: a cold run asks Nominatim 1,000 different things.
            continue
        seen.add(address.casefold())
        found = client.search(AddressQuery(text=address))
        if found is None:
            continue
        east = (found.lon - lon) * 55_500.0  # metres per degree of longitude at 60°N
        north = (found.lat - lat) * 111_195.0
        if (east * east + north * north) ** 0.5 <= 60:
            kept.append((address, lon, lat))
        if len(kept) == COUNT:
            break
    ADDRESSES.parent.mkdir(parents=True, exist_ok=True)
    with ADDRESSES.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["address", "lon", "lat"])
        writer.writerows(kept)
    print(f"kept {len(kept)} of {len(candidates)} addresses in {ADDRESSES}", file=sys.stderr)


def read_addresses() -> list[str]:
    """The benchmark's addresses."""
    with ADDRESSES.open() as f:
        return [row["address"] for row in csv.DictReader(f)][:COUNT]


def settings_for(db_url: str, geocoder_url: str, concurrency: int) -> Settings:
    """Settings of the app under test."""
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    return base.model_copy(update={
        "secret_key": secrets.token_urlsafe(32), "database": DatabaseSettings(url=db_url),
        "jobs": JobSettings(run_in_api=False),
        "geocoding": GeocodingSettings(url=geocoder_url, concurrency=concurrency),
    })


def batch(addresses: list[str], prefix: str) -> dict[str, Any]:
    """One POST /orders/ body of address-only orders."""
    due = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"plan_mode": "manual", "orders": [
        {"order_handle": f"{prefix}-{i}", "destination": {"address": a}, "scheduled_at": due}
        for i, a in enumerate(addresses)]}


def timed_post(client: TestClient, body: dict[str, Any]) -> float:
    """Seconds for one POST /orders/ (which must succeed with every order geocoded)."""
    started = time.perf_counter()
    response = client.post("/orders/", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text[:500]
    orders = response.json()["orders"]
    assert len(orders) == len(body["orders"])
    assert all(o["region"] and o["region"]["country"] == "Finland" for o in orders)
    return elapsed


def run(geocoder_url: str, runs: int) -> dict[str, list[float]]:
    """Cold and warm timings, and one cold run with a single request in flight."""
    addresses = read_addresses()
    results: dict[str, list[float]] = {"cold": [], "warm": [], "sequential": []}
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(db_url)
        for concurrency, kinds in ((8, ("cold", "warm")), (1, ("sequential",))):
            settings = settings_for(db_url, geocoder_url, concurrency)
            app = create_app(settings, run_worker=False)
            db = Database(settings.database)
            for attempt in range(runs if concurrency > 1 else 1):
                with db.write() as session:
                    creds = create_account(session, name="bench", contact_email=None)
                client = TestClient(app)
                client.auth = (creds.account_id, creds.secret_key)
                for kind in kinds:
                    seconds = timed_post(client, batch(addresses, f"{kind}-{attempt}"))
                    results[kind].append(seconds)
                    print(f"{kind} run {attempt + 1}: {seconds:.2f} s", file=sys.stderr)
            db.dispose()
    return results


def report(results: dict[str, list[float]], load: str, command: str) -> str:
    """The markdown section."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Geocoding 1,000 address-only orders (`bench/geocoding.py`)", "",
        f"Generated by `bench/geocoding.py` on {now}.", "",
        "### Machine", "",
        f"- Cores: {os.cpu_count()} logical; load average before the runs: {load}",
        f"- OS: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        "- Geocoder: Nominatim 5.3 (`nominatim serve`, falcon engine) on the Helsinki extract, "
        "PostgreSQL 15 on the same machine; Routekeeper on SQLite, in process", "",
        "### Command", "", "```sh", command, "```", "",
        "### Results", "",
        "One `POST /orders/` of 1,000 orders whose destinations are only addresses, 1,000 "
        "different ones (about 500 street addresses of the extract, then named places); "
        "every order comes back with its geometry and region.", "",
        "| run | requests in flight | runs | median s | min s | max s | orders/s |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"cold": ("cold cache (new account)", "8"),
              "warm": ("warm cache (same account again)", "8"),
              "sequential": ("cold cache, one at a time", "1")}
    for kind, values in results.items():
        if not values:
            continue
        label, flight = labels[kind]
        median = statistics.median(values)
        lines.append(f"| {label} | {flight} | {len(values)} | {median:.2f} | "
                     f"{min(values):.2f} | {max(values):.2f} | {COUNT / median:.0f} |")
    lines += ["", "A cold run pays one Nominatim search per address, eight at a time "
              "(`ROUTEKEEPER_GEOCODING__CONCURRENCY`); a warm run reads the account's cache in "
              "two queries and sends no request. The machine is shared with other work, so "
              "the load average above matters when comparing runs."]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the benchmark and write its section of docs/benchmarks/travel.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--geocoder-url", default=None, help="an already running Nominatim")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--make-addresses", action="store_true")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    process = None
    url = args.geocoder_url
    if url is None:
        port = free_port()
        process = LocalNominatim(HOME).start(port=port, quiet=True)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process=process)
    try:
        if args.make_addresses or not ADDRESSES.exists():
            make_addresses(url, args.pg_url)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        results = run(url, args.runs)
    finally:
        if process is not None:
            stop(process)
    command = "PYTHONPATH=src .venv/bin/python bench/geocoding.py" + "".join(
        f" {shlex.quote(a)}" for a in sys.argv[1:])
    section = report(results, load, command)
    print(section)
    if not args.no_write:
        replace_section(OUTPUT, "bench/geocoding.py", section, "Travel model benchmark")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
