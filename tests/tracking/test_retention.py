"""Position history that stays small: day partitions (PostgreSQL) and retention, with the
route and order actuals kept; the partitioning migration moves every existing row."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from starlette.testclient import TestClient

from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.models.position import Position
from routekeeper.models.route import Route
from routekeeper.settings import DatabaseSettings
from routekeeper.tracking import partitions
from tests.conftest import PG_ENV, Tenant, _create_pg_database, _drop_pg_database

from .api_helpers import TrackClock, backdate, make_road, run_job
from .simulate import FakeTravel


def _positions(db: Database, account_id: str) -> list[datetime]:
    with db.read() as session:
        return sorted(session.scalars(select(Position.recorded_at)
                                      .where(Position.account_id == account_id)))


def _route(api: TestClient, handle: str) -> dict[str, Any]:
    response = api.get(f"/orders/routes/{handle}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_retention_drops_old_positions_and_keeps_route_and_order_actuals(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel,
) -> None:
    """A route driven five days ago, and a fix a day since: with a retention of two days,
    the positions of the older days are gone (whole partitions on PostgreSQL, the days ahead
    created), the newer kept, and the route's and its order's polyline, distance and
    coverage are exactly what they were."""
    now = datetime.now(UTC).replace(microsecond=0)
    road = make_road(api, db, tenant, track_clock)
    started = now - timedelta(days=5)
    backdate(db, tenant.account_id, road.route_handle, started)
    road = dataclasses.replace(road, started_at=started)
    # A fix of a day that may have no partition yet: the upload creates it.
    road.upload(*road.drive(0, 100, 0, 1000), *road.drive(110, 250, 1000, 1000),
                *road.drive(260, 400, 1000, 1600))
    for days_ago in (4, 3, 2, 1, 0):
        at = now - timedelta(days=days_ago, minutes=5)
        road.upload(road.fix((at - started).total_seconds(), 1600.0), now=at)
    stored = _positions(db, tenant.account_id)
    assert {t.date() for t in stored} >= {(now - timedelta(days=d)).date() for d in range(1, 6)}
    track_clock.now = now
    completed = api.post(f"/orders/routes/{road.route_handle}/complete")
    assert completed.status_code == 200, completed.text
    route_before = _route(api, road.route_handle)
    order_before = road.order("P")
    assert route_before["polyline"]["coordinates"] and route_before["distance"] > 1000
    assert order_before["polyline"]["coordinates"] and order_before["distance"] >= 900

    removed = partitions.apply_retention(db, now=now, retention_days=2)
    assert removed >= 1
    kept = _positions(db, tenant.account_id)
    cutoff = now - timedelta(days=2)
    assert [t for t in stored if t >= cutoff] == [t for t in kept if t >= cutoff]
    # On PostgreSQL a partition goes once all of its day is past: at most a day more kept.
    assert all(t >= cutoff - timedelta(days=1) for t in kept)
    assert len(kept) < len(stored) and all(t in stored for t in kept)
    if db.dialect == "postgresql":
        with db.engine.connect() as connection:
            days = set(partitions.existing(connection))
        assert min(days) >= (cutoff - timedelta(days=1)).date()
        assert {now.date() + timedelta(days=n) for n in range(partitions.AHEAD_DAYS + 1)} <= days

    assert _route(api, road.route_handle) == route_before
    assert road.order("P") == order_before
    run_job(db, api.app.state.settings)  # the periodic job rebuilds nothing from positions
    assert _route(api, road.route_handle) == route_before
    with db.read() as session:
        route = session.get(Route, (tenant.account_id, road.route_handle))
        assert route is not None and route.polyline == route_before["polyline"]


def test_sqlite_deletes_in_small_batches(db: Database, tenant: Tenant) -> None:
    """Without partitions, old positions go in batches; each batch its own transaction."""
    if db.dialect == "postgresql":
        with db.engine.connect() as connection:
            if partitions.is_partitioned(connection):
                pytest.skip("partitioned PostgreSQL drops whole partitions instead (test above)")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [{"account_id": tenant.account_id, "device_id": "batchy",
             "recorded_at": now - timedelta(days=200, seconds=i), "received_at": now,
             "lon": 13.4, "lat": 52.5} for i in range(25)]
    rows.append({**rows[0], "recorded_at": now - timedelta(days=1)})
    with db.write() as session:
        session.execute(Position.__table__.insert(), rows)  # type: ignore[attr-defined]
    assert partitions.delete_expired(db, now - timedelta(days=100), batch=10) >= 25
    assert _positions(db, tenant.account_id) == [now - timedelta(days=1)]


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason="partitioning is PostgreSQL's")
def test_the_partitioning_migration_moves_every_row_and_back() -> None:
    """A database at revision 2017 with positions over many days (one long ago, some
    ahead): upgrading partitions the table by day without losing or changing a row, and the
    downgrade puts them all back in a plain table."""
    server = os.environ[PG_ENV]
    url, name = _create_pg_database(server)
    try:
        migrate.upgrade(url, "2017")
        engine = create_engine(url)
        now = datetime.now(UTC).replace(microsecond=0)
        stamps = [now - timedelta(days=d, minutes=m) for d in (0, 1, 2, 3, 40, 400)
                  for m in range(0, 50, 7)] + [now + timedelta(days=3)]
        with engine.begin() as connection:
            for i, at in enumerate(stamps):
                connection.execute(text(
                    "INSERT INTO position (account_id, device_id, recorded_at, received_at, "
                    "lon, lat, accuracy, battery) VALUES ('acc', :device, :at, :at, :lon, 52.5, "
                    "4.0, 80.0)"), {"device": f"d{i % 3}", "at": at, "lon": 13.0 + i / 1000})
            before = sorted(connection.execute(text(
                "SELECT account_id, device_id, recorded_at, lon, lat, accuracy, battery "
                "FROM position")).all())
        engine.dispose()

        migrate.upgrade(url)
        database = Database(DatabaseSettings(url=url))
        try:
            with database.engine.connect() as connection:
                assert partitions.is_partitioned(connection)
                days = set(partitions.existing(connection))
                after = sorted(connection.execute(text(
                    "SELECT account_id, device_id, recorded_at, lon, lat, accuracy, battery "
                    "FROM position")).all())
                in_partitions = connection.scalar(text(
                    "SELECT count(*) FROM ONLY position"))
            assert after == before and in_partitions == 0
            assert {t.date() for t in stamps} <= days
            assert {now.date() + timedelta(days=n) for n in range(8)} <= days
            # New fixes go to their day's partition; a day with none gets one on demand.
            partitions.ensure(database, [date(2001, 1, 1)])
            with database.write() as session:
                session.execute(Position.__table__.insert(), [  # type: ignore[attr-defined]
                    {"account_id": "acc", "device_id": "d9", "lon": 1.0, "lat": 1.0,
                     "recorded_at": datetime(2001, 1, 1, 12, tzinfo=UTC), "received_at": now}])
            with database.read() as session:
                assert session.scalar(select(func.count()).select_from(Position)) == \
                    len(stamps) + 1
        finally:
            database.dispose()

        from alembic import command
        command.downgrade(migrate.alembic_config(url), "2017")
        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.scalar(text(
                "SELECT count(*) FROM pg_partitioned_table")) == 0
            back = connection.scalar(text("SELECT count(*) FROM position"))
        engine.dispose()
        assert back == len(stamps) + 1
    finally:
        _drop_pg_database(server, name)
