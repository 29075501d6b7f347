"""SQL of the tracking domain: devices, positions, and the route and order rows it reads.

The hot path (one upload) is a handful of statements: one multi-row ``INSERT ... ON CONFLICT
DO NOTHING RETURNING`` for the positions, one conditional ``UPDATE`` of the device's newest
position, and one locked ``SELECT`` of the device's tracking routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    Table,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from routekeeper.db.engine import json_text
from routekeeper.models.device import Device
from routekeeper.models.order import Order
from routekeeper.models.position import Position
from routekeeper.models.position_inbox import PositionInbox
from routekeeper.models.route import Route
from routekeeper.tracking.engine.fixes import Fix

_POSITIONS = cast(Table, Position.__table__)
_INBOX = cast(Table, PositionInbox.__table__)


def get_device(
    session: Session, account_id: str, device_id: str, *, lock: bool = False
) -> Device | None:
    """A device of the account; ``lock`` re-reads it under a row lock."""
    if not lock:
        return session.get(Device, (account_id, device_id))
    return session.get(Device, (account_id, device_id), with_for_update=True,
                       populate_existing=True)


def devices_with_prefix(session: Session, prefix: str) -> list[Device]:
    """Devices (of any account) whose ingest key starts with ``prefix``."""
    return list(session.scalars(select(Device).where(Device.key_prefix == prefix)))


def device_page(
    session: Session, account_id: str, *, after: str | None, limit: int,
    worker_handle: str | None = None,
) -> list[Device]:
    """Up to ``limit`` devices of the account after ``after``, by device id."""
    query = select(Device).where(Device.account_id == account_id)
    if worker_handle is not None:
        query = query.where(Device.worker_handle == worker_handle)
    if after is not None:
        query = query.where(Device.device_id > after)
    return list(session.scalars(query.order_by(Device.device_id).limit(limit)))


def worker_device_ids(session: Session, account_id: str, worker_handle: str) -> list[str]:
    """The ids of a worker's registered devices."""
    return list(session.scalars(
        select(Device.device_id).where(Device.account_id == account_id,
                                       Device.worker_handle == worker_handle)
    ))


def latest_worker_device(session: Session, account_id: str, worker_handle: str) -> Device | None:
    """The worker's device that reported most recently, if any reported at all."""
    return session.scalars(
        select(Device)
        .where(Device.account_id == account_id, Device.worker_handle == worker_handle,
               Device.last_recorded_at.is_not(None))
        .order_by(Device.last_recorded_at.desc())
        .limit(1)
    ).first()


def position_row(
    account_id: str, device_id: str, fix: Fix, received_at: datetime
) -> dict[str, Any]:
    """The column values of one position."""
    return {
        "account_id": account_id, "device_id": device_id, "recorded_at": fix.recorded_at,
        "received_at": received_at, "lon": fix.lon, "lat": fix.lat,
        "accuracy": fix.accuracy_m, "speed": fix.speed_mps, "bearing": fix.bearing_deg,
        "altitude": fix.altitude_m, "battery": fix.battery_percent,
    }


DeviceKey = tuple[str, str]
"""(account id, device id)."""

_VALUE_COLUMNS = "recorded_at, lon, lat, accuracy, speed, bearing, altitude, battery"
_RECORD = """account_id text, device_id text, recorded_at timestamptz, lon float8, lat float8,
             accuracy float8, speed float8, bearing float8, altitude float8, battery float8"""
# The hot path of every group of uploads, in one round trip on PostgreSQL: the fixes of all
# its devices go in as one JSON document (one parameter, encoded in C by orjson; as one array
# a column, psycopg's array dumper was a quarter of the upload writer's time in a py-spy
# profile), duplicates are skipped, the new ones are queued in the inbox for the tracking
# processor, and each device's newest position moves forward (one row per device: the group
# holds each device once). The records are ``position_row``'s (their ``received_at`` is not
# among the record's columns: it is given once). Numbers round-trip exactly (shortest form
# both ways); screening has refused NaN and infinities, which JSON cannot carry.
#
# Each device's fixes are queued as one parcel (models/position_inbox.py), encoded by the
# writer (``parcel_text``): when every fix of a device was newly stored, the parcel is that
# text as it came; when some were stored already (a re-sent upload), the parcel is built here
# from the rows stored, so a fix is queued only once, ever. (Built here always, the JSON
# cost PostgreSQL more than the 100 inbox rows it replaces.)
_PG_STORE = f"""
WITH stored AS (
    INSERT INTO position (account_id, device_id, received_at, {_VALUE_COLUMNS})
    SELECT f.account_id, f.device_id, %(received_at)s, {_VALUE_COLUMNS}
    FROM json_to_recordset(%(fixes)s::json) AS f({_RECORD})
    ON CONFLICT DO NOTHING
    RETURNING account_id, device_id, {_VALUE_COLUMNS}
), counted AS (
    SELECT account_id, device_id, count(*) AS n FROM stored GROUP BY account_id, device_id
), queued AS (
    INSERT INTO position_inbox (account_id, device_id, received_at, fix_count, fixes)
    SELECT c.account_id, c.device_id, %(received_at)s, c.n,
           CASE WHEN c.n = p.n THEN p.fixes ELSE (
               SELECT json_agg(json_build_array({_VALUE_COLUMNS}) ORDER BY s.recorded_at)::text
               FROM stored s
               WHERE s.account_id = c.account_id AND s.device_id = c.device_id) END
    FROM counted c
    JOIN json_to_recordset(%(parcels)s::json) AS p(account_id text, device_id text, n int,
                                                   fixes text)
      ON p.account_id = c.account_id AND p.device_id = c.device_id
), newest AS (
    UPDATE device SET last_recorded_at = n.recorded_at, last_received_at = %(received_at)s,
        last_lon = n.lon, last_lat = n.lat, last_accuracy = n.accuracy, last_speed = n.speed,
        last_bearing = n.bearing, last_altitude = n.altitude, last_battery = n.battery
    FROM json_to_recordset(%(newest)s::json) AS n({_RECORD})
    WHERE device.account_id = n.account_id AND device.device_id = n.device_id
      AND (device.last_recorded_at IS NULL OR device.last_recorded_at < n.recorded_at)
)
SELECT account_id, device_id, recorded_at FROM stored
"""


@dataclass(frozen=True)
class Parcel:
    """Fixes one upload group queued for a device (an inbox row), in time order, and when
    they were received."""

    received_at: datetime
    fixes: list[Fix]


def _parcel_values(fix: Fix) -> list[Any]:
    # The order of ``_VALUE_COLUMNS``; orjson writes the instant in ISO 8601 with its offset.
    return [fix.recorded_at, fix.lon, fix.lat, fix.accuracy_m, fix.speed_mps, fix.bearing_deg,
            fix.altitude_m, fix.battery_percent]


def parcel_text(fixes: Sequence[Fix]) -> str:
    """The inbox's JSON of these fixes (models/position_inbox.py)."""
    return orjson.dumps([_parcel_values(fix) for fix in fixes]).decode()


def parcel_fixes(text: str) -> list[Fix]:
    """The fixes of an inbox row's JSON (written by ``parcel_text``, by PostgreSQL's
    ``json_build_array`` in its session's time zone, or by migration 2022)."""
    fixes = []
    for at, lon, lat, accuracy, speed, bearing, altitude, battery in orjson.loads(text):
        recorded_at = datetime.fromisoformat(at)
        if recorded_at.tzinfo is not UTC:
            recorded_at = recorded_at.astimezone(UTC)
        fixes.append(Fix(recorded_at=recorded_at, lon=lon, lat=lat, accuracy_m=accuracy,
                         speed_mps=speed, bearing_deg=bearing, altitude_m=altitude,
                         battery_percent=battery))
    return fixes


# The estimates and risks a processor group changed, on PostgreSQL in one statement with its
# rows as one JSON document: as an ORM bulk UPDATE (an executemany), SQLAlchemy's per-row
# parameter processing was most of this write's time in a py-spy profile of the processor
# (4 % of it). A None is stored as JSON's null, as the ORM stores it.
_PG_TRACKING_UPDATE = """
UPDATE "order" AS o
SET estimate = coalesce(r.estimate, 'null'::jsonb), risks = coalesce(r.risks, 'null'::jsonb),
    risk_status = r.risk_status
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(account_id text, id text, estimate jsonb, risks jsonb, risk_status boolean)
WHERE o.account_id = r.account_id AND o.id = r.id
"""


def update_order_tracking(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write orders' ``estimate``, ``risks`` and ``risk_status`` (each row: ``account_id``,
    ``id`` and those three), by primary key; nothing else of the orders changes."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Encoded as the ORM encodes the JSON columns (db.engine.json_text).
        session.connection().exec_driver_sql(_PG_TRACKING_UPDATE, {"rows": json_text(list(rows))})
        return
    session.execute(update(Order), list(rows))


# The route columns the processor writes batch after batch (the state or its tail, the actuals,
# the orders' tag), with their types in PostgreSQL's record syntax. Written by the ORM's unit
# of work, a group's fifty routes were fifty UPDATEs in an executemany: SQLAlchemy's history
# and parameter work per row and PostgreSQL's per statement were a sixth of the worker's CPU
# in a py-spy profile of 800 phones sending one fix a request.
_ROUTE_TRACKING_COLUMNS = {
    "track_state": "jsonb", "track_tail": "jsonb", "track_state_tag": "bigint",
    "distance": "integer", "duration": "integer", "tracking_rate": "float8",
    "start_location": "jsonb", "end_location": "jsonb", "orders_tag": "bigint"}


def _route_tracking_update(columns: Sequence[str]) -> str:
    """One UPDATE of these tracking columns for many routes given as one JSON document. A
    None of a JSON column is stored as JSON's null, as the ORM stores it.

    The document is read as ``jsonb``, once: read as ``json``, each JSON column's value was
    parsed again into ``jsonb`` (1.7 times the parsing of the same values as parameters, for
    fifty tails of 120 fixes)."""
    assigned = ", ".join(
        f"{name} = coalesce(v.{name}, 'null'::jsonb)"
        if _ROUTE_TRACKING_COLUMNS[name] == "jsonb" else f"{name} = v.{name}"
        for name in columns)
    record = ", ".join(f"{name} {_ROUTE_TRACKING_COLUMNS[name]}" for name in columns)
    return (f"UPDATE route AS r SET {assigned} "
            f"FROM jsonb_to_recordset(%(rows)s::jsonb) "
            f"AS v(account_id text, route_handle text, {record}) "
            "WHERE r.account_id = v.account_id AND r.route_handle = v.route_handle")


def write_route_tracking(session: Session, routes: Iterable[Route]) -> None:
    """On PostgreSQL, write what these routes' objects changed now, in one statement for each
    set of changed columns, when all they changed is tracking's own columns
    (``_ROUTE_TRACKING_COLUMNS``); their objects are then as committed, and the ORM's flush
    finds nothing to write. Routes with other changes are left to the flush whole."""
    if session.get_bind().dialect.name != "postgresql":
        return
    by_columns: dict[tuple[str, ...], list[Route]] = {}
    for route in routes:
        changed = instance_state(route).committed_state
        if changed and changed.keys() <= _ROUTE_TRACKING_COLUMNS.keys():
            by_columns.setdefault(tuple(sorted(changed)), []).append(route)
    connection = session.connection()
    for columns, group in by_columns.items():
        rows = [{"account_id": route.account_id, "route_handle": route.route_handle,
                 **{name: getattr(route, name) for name in columns}} for route in group]
        # Encoded as the ORM encodes the JSON columns (db.engine.json_text).
        connection.exec_driver_sql(_route_tracking_update(columns), {"rows": json_text(rows)})
        for route in group:
            for name in columns:
                set_committed_value(route, name, getattr(route, name))


def store_positions(session: Session, uploads: Mapping[DeviceKey, Sequence[Fix]],
                    received_at: datetime) -> dict[DeviceKey, set[datetime]]:
    """Store the fixes of each device (each in time order), skipping instants already stored,
    and make each device's newest fix its last position unless a newer one is recorded; the
    instants newly stored, per device that stored any."""
    uploads = {device: fixes for device, fixes in uploads.items() if fixes}
    if not uploads:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "received_at": received_at,
            "fixes": orjson.dumps([position_row(*device, fix, received_at)
                                   for device, fixes in uploads.items() for fix in fixes]).decode(),
            "newest": orjson.dumps([position_row(*device, fixes[-1], received_at)
                                    for device, fixes in uploads.items()]).decode(),
            "parcels": orjson.dumps([
                {"account_id": account_id, "device_id": device_id, "n": len(fixes),
                 "fixes": [_parcel_values(fix) for fix in fixes]}
                for (account_id, device_id), fixes in uploads.items()]).decode()}
        stored: dict[DeviceKey, set[datetime]] = {}
        for account_id, device_id, stamp in session.connection().exec_driver_sql(
                _PG_STORE, params):
            stored.setdefault((account_id, device_id), set()).add(stamp.astimezone(UTC))
        return stored
    return {device: inserted for device, fixes in uploads.items()
            if (inserted := _sqlite_store(session, *device, fixes, received_at))}


def _sqlite_store(session: Session, account_id: str, device_id: str, fixes: Sequence[Fix],
                  received_at: datetime) -> set[datetime]:
    rows = [position_row(account_id, device_id, fix, received_at) for fix in fixes]
    statement = (
        sqlite_insert(_POSITIONS).on_conflict_do_nothing().returning(_POSITIONS.c.recorded_at)
    )
    # executemany with RETURNING: SQLAlchemy sends multi-row VALUES batches ("insertmanyvalues").
    inserted = set(session.execute(statement, rows).scalars())
    if inserted:
        new = [fix for fix in fixes if fix.recorded_at in inserted]
        session.execute(insert(_INBOX).values(
            account_id=account_id, device_id=device_id, received_at=received_at,
            fix_count=len(new), fixes=parcel_text(new)))
        bump_last_position(session, account_id, device_id, fixes[-1], received_at)
    return inserted


def bump_last_position(
    session: Session, account_id: str, device_id: str, fix: Fix, received_at: datetime
) -> None:
    """Make ``fix`` the device's newest position unless a newer one is already recorded."""
    session.execute(
        update(Device)
        .where(Device.account_id == account_id, Device.device_id == device_id,
               or_(Device.last_recorded_at.is_(None),
                   Device.last_recorded_at < fix.recorded_at))
        .values(last_recorded_at=fix.recorded_at, last_received_at=received_at,
                last_lon=fix.lon, last_lat=fix.lat, last_accuracy=fix.accuracy_m,
                last_speed=fix.speed_mps, last_bearing=fix.bearing_deg,
                last_altitude=fix.altitude_m, last_battery=fix.battery_percent)
        .execution_options(synchronize_session=False)
    )


def tracking_routes(session: Session, devices: Mapping[DeviceKey, str]
                    ) -> dict[DeviceKey, list[Route]]:
    """The tracking routes each device (with its worker's handle) feeds (its own, or its
    worker's), locked in one statement, by handle.

    Locking in handle order keeps two processors that feed the same routes from deadlocking.
    """
    if not devices:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        routes = list(session.scalars(_fed_by_pg(), {
            "fed_accounts": sorted(_accounts(devices)),
            "fed_devices": sorted({device_id for _, device_id in devices}),
            "fed_workers": sorted(set(devices.values()))}))
    else:
        worker_pairs = {(device[0], handle) for device, handle in devices.items()}
        routes = _locked_routes(
            session, Route.account_id.in_(_accounts(devices)), Route.status == "tracking",
            or_(tuple_(Route.account_id, Route.device_id).in_(list(devices)),
                tuple_(Route.account_id, Route.worker_handle).in_(list(worker_pairs))),
            lean=True)
    # Indexed once: matching every device against every route of the group was 3 % of the
    # processor's time (fifty devices by fifty routes, three attribute reads each).
    by_device: dict[tuple[str, str | None], list[Route]] = {}
    by_worker: dict[tuple[str, str | None], list[Route]] = {}
    for route in routes:
        by_device.setdefault((route.account_id, route.device_id), []).append(route)
        if route.worker_handle is not None:
            by_worker.setdefault((route.account_id, route.worker_handle), []).append(route)
    found: dict[DeviceKey, list[Route]] = {}
    for (account_id, device_id), handle in devices.items():
        fed = {id(route): route for route in (*by_device.get((account_id, device_id), ()),
                                               *by_worker.get((account_id, handle), ()))}
        # In handle order, as locked (the order they are fed in).
        found[(account_id, device_id)] = [route for route in routes if id(route) in fed] \
            if len(fed) > 1 else list(fed.values())
    return found


@cache
def _fed_by_pg() -> Any:
    """PostgreSQL's lock of the tracking routes of a group of devices, built once (the
    accounts, device ids and worker handles go in as arrays, :func:`tracking_routes`).

    With two lists of (account, id) pairs in IN clauses, planning the statement took
    PostgreSQL 5.9 ms a group of fifty devices, four times its execution, and its text
    changed with the group's size, so it was never prepared (pg_stat_statements, 2,000
    phones sending single fixes); a join of the pairs as arrays with a UNION of both kinds
    of route executed slower than the lists did. Matched by id alone, two indexes answer it
    (``ix_route_account_device``, ``ix_route_account_worker``). When a group holds two
    accounts with a device id or worker handle in common, a route of one may be locked for
    the other's device as well; the caller feeds a device only its own routes. Built once:
    composing it took 3.5 ms a group in Python."""
    text_array = ARRAY(Text)
    return _locking(
        Route.account_id == any_(bindparam("fed_accounts", type_=text_array)),
        Route.status == "tracking",
        or_(Route.device_id == any_(bindparam("fed_devices", type_=text_array)),
            Route.worker_handle == any_(bindparam("fed_workers", type_=text_array))),
        lean=True)


def load_track_states(session: Session, routes: Sequence[Route]) -> None:
    """Load the deferred tracking states of these routes (locked by the caller) in one query."""
    if not routes:
        return
    by_key = {(route.account_id, route.route_handle): route for route in routes}
    rows = session.execute(
        select(Route.account_id, Route.route_handle, Route.track_state)
        .where(Route.account_id.in_({account_id for account_id, _ in by_key}),
               tuple_(Route.account_id, Route.route_handle).in_(list(by_key)))
    ).all()
    for account_id, route_handle, state in rows:
        set_committed_value(by_key[(account_id, route_handle)], "track_state", state)


def devices_feeding(session: Session, route: Route) -> list[DeviceKey]:
    """The devices whose fixes a route takes: its own device and its worker's devices."""
    named = [Device.device_id == route.device_id] if route.device_id is not None else []
    if route.worker_handle is not None:
        named.append(Device.worker_handle == route.worker_handle)
    if not named:
        return []
    found = session.scalars(select(Device.device_id).where(
        Device.account_id == route.account_id, or_(*named)))
    return [(route.account_id, device_id) for device_id in sorted(set(found))]


# The tracking routes a group of uploads' devices feed, in one round trip on PostgreSQL: the
# devices go in as arrays, so the statement's text is the same for every group and psycopg
# prepares it (an IN list of pairs is new text for every group size, parsed and planned each
# time, and SQLAlchemy rebuilt and rendered it per group: with the device look-up below, a
# quarter of an API process's time under one-fix uploads). A route is fed by its own device
# or its worker's. Each array is also named as a condition on its own column (here and in
# the statements below), which PostgreSQL can look up in an index: joined to the arrays
# alone, it read every row of the account, the whole table in an install of one account (a
# device look-up of forty devices read all 800 of a benchmark's, 0.8 ms against 0.3).
_PG_ROUTE_HANDLES = """
WITH k AS (
    SELECT * FROM unnest(%(account_id)s::text[], %(device_id)s::text[],
                         %(worker_handle)s::text[]) AS k(account_id, device_id, worker_handle)
)
SELECT k.account_id, k.device_id, r.route_handle FROM k
JOIN route r ON r.account_id = k.account_id AND r.device_id = k.device_id
WHERE r.status = 'tracking' AND r.account_id = ANY(%(account_id)s::text[])
  AND r.device_id = ANY(%(device_id)s::text[])
UNION
SELECT k.account_id, k.device_id, r.route_handle FROM k
JOIN route r ON r.account_id = k.account_id AND r.worker_handle = k.worker_handle
WHERE r.status = 'tracking' AND r.account_id = ANY(%(account_id)s::text[])
  AND r.worker_handle = ANY(%(worker_handle)s::text[])
"""


def tracking_route_handles(session: Session, devices: Mapping[DeviceKey, str]
                           ) -> dict[DeviceKey, list[str]]:
    """The handles of the tracking routes each device (with its worker's handle) feeds, by
    handle (no lock): one query for all of them."""
    if not devices:
        return {}
    found: dict[DeviceKey, set[str]] = {device: set() for device in devices}
    if session.get_bind().dialect.name == "postgresql":
        for account_id, device_id, handle in session.connection().exec_driver_sql(
                _PG_ROUTE_HANDLES, {
                    "account_id": [account_id for account_id, _ in devices],
                    "device_id": [device_id for _, device_id in devices],
                    "worker_handle": list(devices.values())}):
            found[(account_id, device_id)].add(handle)
        return {device: sorted(handles) for device, handles in found.items()}
    rows = session.execute(
        select(Route.account_id, Route.device_id, Route.worker_handle, Route.route_handle)
        .where(Route.account_id.in_(_accounts(devices)), Route.status == "tracking",
               or_(Route.device_id.in_({device_id for _, device_id in devices}),
                   Route.worker_handle.in_(set(devices.values()))))
    ).all()
    by_device: dict[DeviceKey, set[str]] = {}
    by_worker: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        if row.device_id is not None:
            by_device.setdefault((row.account_id, row.device_id), set()).add(row.route_handle)
        if row.worker_handle is not None:
            by_worker.setdefault((row.account_id, row.worker_handle), set()).add(
                row.route_handle)
    return {device: sorted(by_device.get(device, set())
                           | by_worker.get((device[0], worker_handle), set()))
            for device, worker_handle in devices.items()}


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """What uploads and the processor read of a device: its worker, its key's hash (checked on
    every upload) and its newest position (the screening's speed check)."""

    account_id: str
    device_id: str
    worker_handle: str
    key_hash: str
    last_recorded_at: datetime | None
    last_lon: float | None
    last_lat: float | None
    last_accuracy: float | None


_DEVICE_ROW = (Device.account_id, Device.device_id, Device.worker_handle, Device.key_hash,
               Device.last_recorded_at, Device.last_lon, Device.last_lat, Device.last_accuracy)
# DeviceRow's columns for devices given as arrays (see _PG_ROUTE_HANDLES for why arrays).
_PG_DEVICES = """
SELECT d.account_id, d.device_id, d.worker_handle, d.key_hash, d.last_recorded_at,
       d.last_lon, d.last_lat, d.last_accuracy
FROM unnest(%(account_id)s::text[], %(device_id)s::text[]) AS k(account_id, device_id)
JOIN device d ON d.account_id = k.account_id AND d.device_id = k.device_id
WHERE d.account_id = ANY(%(account_id)s::text[]) AND d.device_id = ANY(%(device_id)s::text[])
"""


def devices_by_ids(session: Session, wanted: Iterable[DeviceKey]) -> dict[DeviceKey, DeviceRow]:
    """The devices of these (account id, device id) pairs that exist, in one query."""
    pairs = list(set(wanted))
    if not pairs:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.connection().exec_driver_sql(_PG_DEVICES, {
            "account_id": [account_id for account_id, _ in pairs],
            "device_id": [device_id for _, device_id in pairs]}).all()
        found = [DeviceRow(account_id, device_id, worker, key_hash,
                           None if last_at is None else _utc(last_at), lon, lat, accuracy)
                 for account_id, device_id, worker, key_hash, last_at, lon, lat, accuracy
                 in rows]
    else:
        found = [DeviceRow(*row) for row in session.execute(
            select(*_DEVICE_ROW).where(Device.account_id.in_(_accounts(pairs)),
                                       tuple_(Device.account_id, Device.device_id).in_(pairs)))]
    return {(row.account_id, row.device_id): row for row in found}


def _accounts(devices: Iterable[DeviceKey]) -> set[str]:
    # Named on its own beside the (account, device) pairs: every statement pins its accounts
    # (docs/deploy.md: a sharded database routes by account_id).
    return {account_id for account_id, _ in devices}


def pending_devices(session: Session, limit: int | None) -> list[tuple[DeviceKey, datetime]]:
    """Devices with fixes in the inbox (``limit`` of them, or all), each with when its oldest
    waiting fix was received, those waiting longest first (of every account: the processor
    serves them all; one of the few global statements, docs/deploy.md)."""
    rows = session.execute(
        select(PositionInbox.account_id, PositionInbox.device_id,
               func.min(PositionInbox.received_at))
        .group_by(PositionInbox.account_id, PositionInbox.device_id)
        .order_by(func.min(PositionInbox.id))
        .limit(limit)
    ).all()
    return [((str(a), str(d)), oldest) for a, d, oldest in rows]


# A group's inbox rows taken in one statement on PostgreSQL: each device's oldest parcels
# while it has fewer than ``limit`` fixes (at least one parcel), deleted and returned at
# once. The devices go in as two arrays: a list of thousands of row ids in an IN clause was a
# tenth of the processor's time, compiling and converting its parameters.
_PG_TAKE = """
DELETE FROM position_inbox WHERE id IN (
    SELECT id FROM (
        SELECT i.id, sum(i.fix_count) OVER (PARTITION BY i.account_id, i.device_id
                                            ORDER BY i.id) - i.fix_count AS before
        FROM position_inbox i
        JOIN unnest(%(account_id)s::text[], %(device_id)s::text[]) AS d(account_id, device_id)
          ON i.account_id = d.account_id AND i.device_id = d.device_id
        WHERE i.account_id = ANY(%(account_id)s::text[])
          AND i.device_id = ANY(%(device_id)s::text[])
    ) ranked WHERE before < %(limit)s)
RETURNING id, account_id, device_id, received_at, fixes
"""


def _pg_take(session: Session, devices: Sequence[DeviceKey], limit: int
             ) -> list[tuple[Any, ...]]:
    rows = session.connection().exec_driver_sql(_PG_TAKE, {
        "account_id": [account_id for account_id, _ in devices],
        "device_id": [device_id for _, device_id in devices], "limit": limit}).all()
    return sorted((tuple(row) for row in rows), key=lambda row: row[0])


def take_pending(session: Session, devices: Sequence[DeviceKey], limit: int
                 ) -> dict[DeviceKey, list[Parcel]]:
    """Remove each device's oldest parcels from the inbox while it has fewer than ``limit``
    fixes (at least one parcel), in the caller's transaction, so they come back if it rolls
    back; the parcels, oldest first, per device that had any. One statement on PostgreSQL;
    elsewhere one read and one delete for all the devices."""
    if not devices:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        return _as_taken(_pg_take(session, devices, limit))
    rows = session.execute(
        select(PositionInbox.id, PositionInbox.account_id, PositionInbox.device_id,
               PositionInbox.received_at, PositionInbox.fix_count, PositionInbox.fixes)
        .where(PositionInbox.account_id.in_(_accounts(devices)),
               tuple_(PositionInbox.account_id, PositionInbox.device_id).in_(list(devices)))
        .order_by(PositionInbox.id)
    ).all()
    counts: dict[DeviceKey, int] = {}
    kept: list[tuple[Any, ...]] = []
    for row_id, account_id, device_id, received_at, fix_count, fixes in rows:
        device = (account_id, device_id)
        if counts.get(device, 0) < limit:
            counts[device] = counts.get(device, 0) + fix_count
            kept.append((row_id, account_id, device_id, received_at, fixes))
    if kept:
        session.execute(delete(PositionInbox).where(
            PositionInbox.account_id.in_(_accounts(devices)),
            PositionInbox.id.in_([row[0] for row in kept])))
    return _as_taken(kept)


def _as_taken(rows: Iterable[tuple[Any, ...]]) -> dict[DeviceKey, list[Parcel]]:
    """Inbox rows (id, account, device, received_at, fixes), in id order, as each device's
    parcels."""
    taken: dict[DeviceKey, list[Parcel]] = {}
    for _, account_id, device_id, received_at, fixes in rows:
        taken.setdefault((account_id, device_id), []).append(
            Parcel(_utc(received_at), parcel_fixes(fixes)))
    return taken


def _utc(value: datetime) -> datetime:
    # The ORM's UTCDateTime gives UTC; a raw PostgreSQL row has the session's time zone.
    return value.astimezone(UTC)


def try_lock_devices(session: Session, devices: Sequence[DeviceKey]) -> list[DeviceKey]:
    """Take the transaction's claim on processing these devices' inboxes, in one statement;
    those it got (another transaction holds the others). PostgreSQL: advisory locks released
    at commit or rollback; SQLite has one writer at a time, so the write transaction itself
    is the claim."""
    if session.get_bind().dialect.name != "postgresql" or not devices:
        return list(devices)
    rows = session.connection().exec_driver_sql(
        "SELECT k.account_id, k.device_id"
        " FROM unnest(%(accounts)s::text[], %(devices)s::text[]) AS k(account_id, device_id)"
        " WHERE pg_try_advisory_xact_lock(hashtextextended("
        "'position_inbox:' || k.account_id || ':' || k.device_id, 0))",
        {"accounts": [device[0] for device in devices],
         "devices": [device[1] for device in devices]})
    return [(str(account_id), str(device_id)) for account_id, device_id in rows]


def try_lock_device(session: Session, account_id: str, device_id: str) -> bool:
    """``try_lock_devices`` for one device."""
    return bool(try_lock_devices(session, [(account_id, device_id)]))


def lock_routes(session: Session, keys: Sequence[RouteKey]) -> list[Route]:
    """These routes (those that exist) locked in one statement, in handle order (as
    ``tracking_routes``, so the job and the processor never deadlock)."""
    if not keys:
        return []
    return _locked_routes(session, Route.account_id.in_({account_id for account_id, _ in keys}),
                          tuple_(Route.account_id, Route.route_handle).in_(list(keys)))


# What tracking never reads of a route: the planner's and the API's columns. Left out of the
# processor's read of its group's routes (read when used): building each route object of a
# group from every column was a tenth of the processor's time in a py-spy profile of 2,000
# phones. (tests/tracking/test_processor_reads.py checks a drive never reads them.)
_NOT_TRACKING = (Route.version, Route.ops_group_handle, Route.track_mode, Route.plan_mode,
                 Route.plan_id, Route.start_by, Route.completion_type, Route.completion_source,
                 Route.scheduled_start_at, Route.created_at, Route.planned_at,
                 Route.assigned_at)


def _locked_routes(session: Session, *criteria: Any, lean: bool = False) -> list[Route]:
    """The routes matching ``criteria``, locked in handle order, re-read; ``lean``: without
    the columns tracking never reads (``_NOT_TRACKING``)."""
    return list(session.scalars(_locking(*criteria, lean=lean)))


def _locking(*criteria: Any, lean: bool) -> Any:
    """:func:`_locked_routes`' statement."""
    return (
        select(Route)
        .where(*criteria)
        .order_by(Route.account_id, Route.route_handle)
        .with_for_update()
        # The route's actual polyline and planned estimate grow with the route; read when
        # used. Its tracking state is mostly kept decoded (load_track_states for the others).
        # Tracking never reads the planner's and the API's JSON (read when used).
        .options(defer(Route.polyline), defer(Route.estimate), defer(Route.track_state),
                 defer(Route.metadata_), defer(Route.created_by), defer(Route.day_stops),
                 defer(Route.bound_by), *(defer(column) for column in _NOT_TRACKING if lean))
        .execution_options(populate_existing=True)
    )


# The order columns an upload reads, in ``routeorders.OrderRow``'s field order.
_ORDER_ROW = (Order.id, Order.order_handle, Order.status, Order.destination,
              Order.scheduled_after, Order.scheduled_at, Order.expected_service_time,
              Order.completed_at, Order.cancelled_at, Order.arrived_at, Order.exited_at,
              Order.estimate, Order.risks, Order.risk_status)


def route_order_rows(session: Session, route: Route) -> list[tuple[Any, ...]]:
    """The orders on a route, in sequence, as plain rows of the columns uploads read."""
    return order_rows_of_routes(session, [route])[(route.account_id, route.route_handle)]


RouteKey = tuple[str, str]


# The orders of a group's routes on PostgreSQL, in ``_ORDER_ROW``'s order after the route's
# key: constant text (prepared by psycopg), the routes as two arrays, and plain rows. The
# ORM's select, with its compilation and a type conversion per time column and row, cost a
# quarter more CPU (14-17 against 11-12 ms for the 600 orders of 50 routes). The JSON columns
# come as text and are decoded through ``_decoded``.
_PG_ORDER_ROWS = """
SELECT o.account_id, o.route_handle, o.id, o.order_handle, o.status, o.destination::text,
       o.scheduled_after, o.scheduled_at, o.expected_service_time, o.completed_at,
       o.cancelled_at, o.arrived_at, o.exited_at, o.estimate::text, o.risks::text,
       o.risk_status
FROM unnest(%(account_id)s::text[], %(route_handle)s::text[]) AS k(account_id, route_handle)
JOIN "order" o ON o.account_id = k.account_id AND o.route_handle = k.route_handle
WHERE o.account_id = ANY(%(account_id)s::text[])
ORDER BY o.account_id, o.route_handle, o.route_sequence, o.created_at
"""


def _pg_order_rows(session: Session, wanted: set[RouteKey]) -> list[tuple[Any, ...]]:
    if session.autoflush:
        # As the ORM's select would: a caller's unflushed order changes (a hook that just
        # completed one) are read back (within no_autoflush, they are not).
        session.flush()
    keys = sorted(wanted)
    rows = session.connection().exec_driver_sql(_PG_ORDER_ROWS, {
        "account_id": [account_id for account_id, _ in keys],
        "route_handle": [handle for _, handle in keys]}).all()
    return [(account_id, handle, order_id, order_handle, status, _decoded(destination),
             _utc_or_none(after), _utc_or_none(at), service, _utc_or_none(completed),
             _utc_or_none(cancelled), _utc_or_none(arrived), _utc_or_none(exited),
             _decoded(estimate), _decoded(risks), risk_status)
            for (account_id, handle, order_id, order_handle, status, destination, after, at,
                 service, completed, cancelled, arrived, exited, estimate, risks, risk_status)
            in rows]


# The order rows' JSON values by their text. A route's batches read the same orders every
# second or so, and most of their destinations, estimates and risks have not changed since:
# decoding them again was a tenth of the processor's CPU in the fleet benchmark. Readers
# never change these values in place (a new estimate is a new dict), so one object serves
# every row with the same text.
_DECODED: dict[str, Any] = {}
_DECODED_MAX = 50_000


def _decoded(text_: str | None) -> Any:
    """A JSON column's value from its text (None for SQL NULL), decoded once."""
    if text_ is None:
        return None
    value = _DECODED.get(text_)
    if value is None:
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        value = _DECODED[text_] = orjson.loads(text_)
    return value


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def order_rows_of_routes(session: Session, routes: Sequence[Route]
                         ) -> dict[RouteKey, list[tuple[Any, ...]]]:
    """``route_order_rows`` of several routes in one query, by (account, route handle)."""
    wanted = {(route.account_id, route.route_handle) for route in routes}
    found: dict[RouteKey, list[tuple[Any, ...]]] = {key: [] for key in wanted}
    if not wanted:
        return found
    if session.get_bind().dialect.name == "postgresql":
        for account_id, route_handle, *columns in _pg_order_rows(session, wanted):
            found[(account_id, route_handle)].append(tuple(columns))
        return found
    rows = session.execute(
        select(Order.account_id, Order.route_handle, *_ORDER_ROW)
        .where(Order.account_id.in_({account for account, _ in wanted}),
               Order.route_handle.in_({handle for _, handle in wanted}))
        .order_by(Order.account_id, Order.route_handle, Order.route_sequence, Order.created_at)
    )
    for account_id, route_handle, *columns in rows:
        rows_of_route = found.get((account_id, route_handle))
        if rows_of_route is not None:  # another account's route of the same handle
            rows_of_route.append(tuple(columns))
    return found


def tracking_route_marks(
    session: Session,
) -> list[tuple[str, str, datetime | None, str | None, str | None, datetime | None]]:
    """Every tracking route with its start, when its state was last evaluated and when its
    polyline was refreshed (as stored, ISO text), and when the oldest fix still waiting for
    it in the inbox was received (None when none waits), so the periodic job can pass over
    routes that are up to date, or about to be, without locking or loading them."""
    evaluated = Route.track_state["pipeline"]["evaluated_at"].as_string()
    refreshed = Route.track_state["polyline_at"].as_string()
    rows = session.execute(
        select(Route.account_id, Route.route_handle, Route.started_at, evaluated, refreshed,
               Route.device_id, Route.worker_handle)
        .where(Route.status == "tracking")
        .order_by(Route.account_id, Route.route_handle)
    ).all()
    by_device, by_worker = _waiting_since(session)
    marks = []
    for account_id, handle, started, evaluated_at, refreshed_at, device_id, worker in rows:
        waiting = [since for since in (by_device.get((account_id, device_id)),
                                       by_worker.get((account_id, worker))) if since]
        marks.append((str(account_id), str(handle), started, evaluated_at, refreshed_at,
                      min(waiting) if waiting else None))
    return marks


def _waiting_since(session: Session) -> tuple[dict[tuple[str, str], datetime],
                                              dict[tuple[str, str], datetime]]:
    """When the oldest waiting fix of each device with any in the inbox was received, by
    device and by its worker (two queries: per route, a search of the inbox for its device
    or its worker's devices cost seconds with a backlog)."""
    by_device = {device: _utc(oldest) for device, oldest in pending_devices(session, None)}
    by_worker: dict[tuple[str, str], datetime] = {}
    for device, row in devices_by_ids(session, by_device).items():
        since = by_device[device]
        key = (row.account_id, row.worker_handle)
        by_worker[key] = min(since, by_worker.get(key, since))
    return by_device, by_worker


def completed_route_keys(session: Session, *, since: datetime) -> list[tuple[str, str]]:
    """(account, handle) of routes completed since a moment that have a tracking state."""
    rows = session.execute(
        select(Route.account_id, Route.route_handle)
        .where(Route.status == "completed", Route.completed_at >= since,
               Route.track_state.is_not(None))
        .order_by(Route.account_id, Route.route_handle)
    ).all()
    return [(str(a), str(h)) for a, h in rows]


_FIX_COLUMNS = (Position.recorded_at, Position.lon, Position.lat, Position.accuracy,
                Position.speed, Position.bearing, Position.altitude, Position.battery)


def positions_between(
    session: Session, account_id: str, device_ids: Iterable[str], *,
    since: datetime | None, until: datetime | None,
) -> list[Fix]:
    """The stored fixes of these devices in ``[since, until]``, oldest first."""
    ids = sorted(set(device_ids))
    if not ids:
        return []
    conditions = [Position.account_id == account_id, Position.device_id.in_(ids)]
    if since is not None:
        conditions.append(Position.recorded_at >= since)
    if until is not None:
        conditions.append(Position.recorded_at <= until)
    # Plain rows, not ORM objects: a leg at 5 Hz is thousands of them.
    rows = session.execute(select(*_FIX_COLUMNS).where(and_(*conditions))
                           .order_by(Position.recorded_at))
    return [Fix(*row) for row in rows]


def last_position_before(
    session: Session, account_id: str, device_ids: Iterable[str], at: datetime
) -> Fix | None:
    """The newest stored fix of these devices recorded at or before ``at``."""
    ids = sorted(set(device_ids))
    if not ids:
        return None
    row = session.execute(
        select(*_FIX_COLUMNS)
        .where(Position.account_id == account_id, Position.device_id.in_(ids),
               Position.recorded_at <= at)
        .order_by(Position.recorded_at.desc())
        .limit(1)
    ).first()
    return None if row is None else Fix(*row)


def order_by_tracking_id(session: Session, tracking_id: str) -> Order | None:
    """The order a public tracking link names (tracking ids are unique across accounts)."""
    return session.scalars(select(Order).where(Order.tracking_id == tracking_id)).first()
