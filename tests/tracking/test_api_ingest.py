"""``POST /devices/{device_id}/locations``: screening with reasons, idempotency, auth, storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.device import Device
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.position import Position
from routekeeper.models.worker import Worker
from routekeeper.routes.locations import start_location
from routekeeper.tracking.service import worker_location
from tests.conftest import Tenant
from tests.shapes import messages_at

from .api_helpers import bearer, make_worker, register, stored_positions, ts


def item(at: datetime, lon: float = 13.4, lat: float = 52.5, **extra: Any) -> dict[str, Any]:
    """One upload item."""
    return {"recorded_at": ts(at), "geometry": {"type": "Point", "coordinates": [lon, lat]},
            **extra}


def setup(api: TestClient) -> tuple[str, TestClient]:
    """A worker with device ``d1``; its key and an unauthenticated client."""
    make_worker(api, "w1")
    key = register(api, "d1", "w1")
    return key, TestClient(api.app, raise_server_exceptions=False)


def test_implausible_positions_are_rejected_with_reasons_and_not_stored(
    api: TestClient, db: Database, tenant: Tenant
) -> None:
    """Each refused position is named by index with its reason; the others are stored."""
    key, device = setup(api)
    now = datetime.now(UTC)
    body = {"locations": [
        item(now - timedelta(seconds=60), accuracy=5, speed=3.0, battery=80),
        item(now + timedelta(hours=1)),
        item(now - timedelta(seconds=50), lon=0.0, lat=0.0),
        item(now - timedelta(seconds=40), lat=95.0),
        item(now - timedelta(seconds=30), speed=250.0),
        item(now - timedelta(seconds=20), lon=14.4),
        item(now - timedelta(seconds=10), lon=13.4001, accuracy=5, bearing=400),
        item(now - timedelta(seconds=5), lon=13.4002, accuracy=5),
    ]}
    response = device.post("/devices/d1/locations", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 2 and result["rejected"] == 6 and result["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in result["rejections"]}
    assert reasons == {
        1: "recorded_at is in the future",
        2: "impossible coordinates (0, 0)",
        3: "latitude out of range",
        4: "reported speed of 250 m/s is not plausible",
        5: reasons[5],
        6: "bearing out of range",
    }
    assert reasons[5].startswith("implied speed")
    assert stored_positions(db, tenant.account_id, "d1") == 2
    last = api.get("/devices/d1").json()["last_location"]
    assert last["geometry"]["coordinates"] == [13.4002, 52.5]
    assert last["recorded_at"] == ts(now - timedelta(seconds=5))


def test_uploads_are_idempotent(api: TestClient, db: Database, tenant: Tenant) -> None:
    """Re-sent and repeated instants are accepted, counted as duplicates and stored once."""
    key, device = setup(api)
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"locations": [item(now - timedelta(seconds=s)) for s in (30, 20, 20, 10)]}
    first = device.post("/devices/d1/locations", json=body, headers=bearer(key)).json()
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (4, 1, 0)
    again = device.post("/devices/d1/locations", json=body, headers=bearer(key)).json()
    assert (again["accepted"], again["duplicates"]) == (4, 4)
    assert stored_positions(db, tenant.account_id, "d1") == 3
    with db.read() as session:
        rows = session.scalars(select(Position).where(
            Position.account_id == tenant.account_id).order_by(Position.recorded_at)).all()
        assert [r.recorded_at for r in rows] == [now - timedelta(seconds=s) for s in (30, 20, 10)]
        assert all(r.received_at >= r.recorded_at for r in rows)


def test_positions_are_stored_exactly_as_sent(api: TestClient, db: Database,
                                             tenant: Tenant) -> None:
    """Every number keeps all its digits and every instant its milliseconds, in the position
    rows and in the device's last position (PostgreSQL's rows travel as one JSON document)."""
    key, device = setup(api)
    now = datetime.now(UTC).replace(microsecond=0)
    sent = [
        item(now - timedelta(seconds=20, milliseconds=1), lon=13.400000000000002,
             lat=52.123456789012345, accuracy=4.7, speed=0.30000000000000004,
             bearing=359.99999999, altitude=-12.345678901234567, battery=99.9),
        item(now - timedelta(seconds=10, milliseconds=999), lon=13.4000001, lat=52.1234568),
    ]
    response = device.post("/devices/d1/locations", json={"locations": sent},
                           headers=bearer(key))
    assert response.json()["accepted"] == 2, response.text
    with db.read() as session:
        rows = session.scalars(select(Position).where(
            Position.account_id == tenant.account_id).order_by(Position.recorded_at)).all()
        stored = [(r.recorded_at, r.lon, r.lat, r.accuracy, r.speed, r.bearing, r.altitude,
                   r.battery) for r in rows]
        last = session.scalars(select(Device).where(Device.account_id == tenant.account_id,
                                                    Device.device_id == "d1")).one()
        newest = (last.last_recorded_at, last.last_lon, last.last_lat, last.last_accuracy,
                  last.last_battery)
    assert stored == [
        (now - timedelta(seconds=20, milliseconds=1), 13.400000000000002, 52.123456789012345,
         4.7, 0.30000000000000004, 359.99999999, -12.345678901234567, 99.9),
        (now - timedelta(seconds=10, milliseconds=999), 13.4000001, 52.1234568,
         None, None, None, None, None)]
    assert newest == (now - timedelta(seconds=10, milliseconds=999), 13.4000001, 52.1234568,
                      None, None)


def test_bad_keys_are_refused_and_nothing_is_stored(
    api: TestClient, db: Database, tenant: Tenant
) -> None:
    """Unknown, malformed and other devices' keys are 401s that store nothing."""
    key, device = setup(api)
    register(api, "d2", "w1")
    body = {"locations": [item(datetime.now(UTC))]}
    for headers in (bearer("rkd_" + "x" * 43), bearer(key[:-1] + ("A" if key[-1] != "A" else "B")),
                    bearer("not-a-key"), {}):
        response = device.post("/devices/d1/locations", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert set(response.json()) == {"detail", "message"}
    assert device.post("/devices/d2/locations", json=body, headers=bearer(key)).status_code == 401
    assert stored_positions(db, tenant.account_id, "d1") == 0
    assert stored_positions(db, tenant.account_id, "d2") == 0


def test_account_credentials_may_upload_and_batches_are_bounded(
    api: TestClient, settings: Any
) -> None:
    """The account's own credentials work too; more than max_batch items is a 422."""
    setup(api)
    now = datetime.now(UTC)
    ok = api.post("/devices/d1/locations", json={"locations": [item(now)]})
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    limit = settings.tracking.max_batch
    many = [item(now - timedelta(seconds=i + 1)) for i in range(limit + 1)]
    too_many = api.post("/devices/d1/locations", json={"locations": many})
    assert too_many.status_code == 422
    assert "locations" in too_many.json()["detail"]["json"]
    assert api.post("/devices/nope/locations", json={"locations": [item(now)]}
                    ).status_code == 404


def test_malformed_items_fail_the_request_naming_the_field(api: TestClient) -> None:
    """A missing recorded_at or text for a number is a 422 with the item's path."""
    key, device = setup(api)
    body = {"locations": [item(datetime.now(UTC)),
                          {"geometry": {"type": "Point", "coordinates": [1, 2]}},
                          item(datetime.now(UTC), accuracy="far")]}
    response = device.post("/devices/d1/locations", json=body, headers=bearer(key))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert messages_at(detail, "json", "locations.1.recorded_at")
    assert messages_at(detail, "json", "locations.2.accuracy") == ["Not a valid number."]
    empty = device.post("/devices/d1/locations", json={"locations": []}, headers=bearer(key))
    assert empty.status_code == 422


def test_live_location_feeds_route_start(api: TestClient, db: Database, tenant: Tenant) -> None:
    """The worker's newest device position is the route start under ``live_location``."""
    key, device = setup(api)
    make_worker(api, "w2")
    with db.read() as session:
        group = session.get(OpsGroup, (tenant.account_id, "default"))
        worker = session.get(Worker, (tenant.account_id, "w1"))
        assert group is not None and worker is not None and worker.home is None
        assert start_location(session, group, worker, live=worker_location) is None
    now = datetime.now(UTC)
    device.post("/devices/d1/locations", headers=bearer(key),
                json={"locations": [item(now - timedelta(seconds=9), lon=13.4003, lat=52.5002),
                                    item(now - timedelta(seconds=20), lon=13.40, lat=52.50)]})
    with db.read() as session:
        group = session.get(OpsGroup, (tenant.account_id, "default"))
        worker = session.get(Worker, (tenant.account_id, "w1"))
        other = session.get(Worker, (tenant.account_id, "w2"))
        assert group is not None and worker is not None and other is not None
        assert start_location(session, group, worker, live=worker_location) == (13.4003, 52.5002)
        assert start_location(session, group, other, live=worker_location) is None
