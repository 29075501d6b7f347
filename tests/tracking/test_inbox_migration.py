"""Migration 2022 packs the fixes waiting in the inbox into parcels without losing,
changing or reordering one, and its downgrade unpacks them again (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.settings import DatabaseSettings
from routekeeper.tracking import repository
from routekeeper.tracking.engine.fixes import Fix
from tests.conftest import PG_ENV, _create_pg_database, _drop_pg_database

_COLUMNS = "account_id, device_id, received_at, recorded_at, lon, lat, accuracy, speed, " \
           "bearing, altitude, battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inbox.db'}"
        return
    if not os.environ.get(PG_ENV):
        pytest.skip("PostgreSQL is not configured for this run")
    server = os.environ[PG_ENV]
    url, name = _create_pg_database(server)
    try:
        yield url
    finally:
        _drop_pg_database(server, name)


def _waiting_rows(received: datetime) -> list[dict[str, Any]]:
    """Single-fix inbox rows as revision 2021 kept them: two devices interleaved, one fix
    recorded before another it was received after, full-precision numbers and Nones."""
    rows = []
    for i in range(7):
        rows.append({
            "account_id": "acc", "device_id": f"d{i % 2}",
            "received_at": received + timedelta(seconds=i),
            "recorded_at": received - timedelta(seconds=60 - i * 7 + (20 if i == 4 else 0),
                                                milliseconds=i),
            "lon": 13.400000000000002 + i, "lat": 52.123456789012345,
            "accuracy": None if i == 3 else 4.7, "speed": 0.30000000000000004,
            "bearing": None, "altitude": -12.345678901234567, "battery": 99.9})
    return rows


def _fix(row: dict[str, Any]) -> Fix:
    return Fix(recorded_at=row["recorded_at"], lon=row["lon"], lat=row["lat"],
               accuracy_m=row["accuracy"], speed_mps=row["speed"], bearing_deg=row["bearing"],
               altitude_m=row["altitude"], battery_percent=row["battery"])


def test_waiting_fixes_become_parcels_and_back(url: str) -> None:
    received = datetime.now(UTC).replace(microsecond=0)
    rows = _waiting_rows(received)
    migrate.upgrade(url, "2021")
    engine = create_engine(url)
    with engine.begin() as connection:
        for row in rows:
            stamps = {key: (value.replace(tzinfo=None) if url.startswith("sqlite")
                            else value)
                      for key, value in row.items() if key.endswith("_at")}
            connection.execute(text(
                f"INSERT INTO position_inbox ({_COLUMNS}) VALUES (:account_id, :device_id, "
                ":received_at, :recorded_at, :lon, :lat, :accuracy, :speed, :bearing, "
                ":altitude, :battery)"), {**row, **stamps})
    engine.dispose()

    migrate.upgrade(url)
    database = Database(DatabaseSettings(url=url))
    try:
        with database.write() as session:
            taken = repository.take_pending(session, [("acc", "d0"), ("acc", "d1")], 100)
            session.rollback()
    finally:
        database.dispose()
    for device in ("d0", "d1"):
        mine = [row for row in rows if row["device_id"] == device]
        assert [(parcel.received_at, parcel.fixes) for parcel in taken[("acc", device)]] == \
            [(row["received_at"], [_fix(row)]) for row in mine]

    command.downgrade(migrate.alembic_config(url), "2021")
    engine = create_engine(url)
    with engine.connect() as connection:
        back = connection.execute(text(
            f"SELECT {_COLUMNS} FROM position_inbox ORDER BY id")).mappings().all()
    engine.dispose()
    assert [_fix({**row, "recorded_at": _instant(row["recorded_at"])}) for row in back] == \
        [_fix(row) for row in rows]
    assert [_instant(row["received_at"]) for row in back] == \
        [row["received_at"] for row in rows]


def _instant(value: Any) -> datetime:
    # Raw rows: SQLite's text, PostgreSQL's aware value in the session's time zone.
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
