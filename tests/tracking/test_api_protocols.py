"""The device protocols as real clients send them: OsmAnd / Traccar Client and OwnTracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.position import Position
from tests.conftest import Tenant
from tests.shapes import messages_at

from .api_helpers import basic, make_worker, register, stored_positions, ts

KNOT_MPS = 1852.0 / 3600.0


@pytest.fixture
def key(api: TestClient) -> str:
    """The ingest key of device ``phone`` of worker ``w1``."""
    make_worker(api, "w1")
    return register(api, "phone", "w1")


def positions(db: Database, account_id: str) -> list[Position]:
    """The stored positions of an account, oldest first."""
    with db.read() as session:
        rows = list(session.scalars(select(Position).where(Position.account_id == account_id)
                                    .order_by(Position.recorded_at)).all())
        # Detached before the read session ends, so the rows keep their loaded values.
        session.expunge_all()
        return rows


def recent(seconds: int) -> datetime:
    """A whole second ``seconds`` ago."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)


def test_osmand_query_string_with_unix_seconds_and_knots(
    anon: TestClient, key: str, db: Database, tenant: Tenant
) -> None:
    """A GET with OsmAnd's parameters stores the fix with speed converted from knots."""
    at = recent(30)
    response = anon.get("/osmand", params={
        "id": key, "lat": "52.5163", "lon": "13.3777", "timestamp": str(int(at.timestamp())),
        "speed": "10", "bearing": "90.5", "altitude": "34.0", "accuracy": "6.5", "batt": "77",
        "hdop": "1.2", "charge": "false"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    [row] = positions(db, tenant.account_id)
    assert row.recorded_at == at and (row.lat, row.lon) == (52.5163, 13.3777)
    assert row.speed == pytest.approx(10 * KNOT_MPS)
    assert (row.bearing, row.altitude, row.accuracy, row.battery) == (90.5, 34.0, 6.5, 77.0)


@pytest.mark.parametrize("stamp", ["iso", "iso-offset", "millis", "traccar-text"])
def test_osmand_timestamp_forms(anon: TestClient, key: str, db: Database, tenant: Tenant,
                                stamp: str) -> None:
    """ISO-8601 (with or without offset), Unix milliseconds and ``Y-m-d H:M:S`` all parse."""
    at = recent(45)
    text = {"iso": ts(at),
            "iso-offset": (at + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
            "millis": str(int(at.timestamp() * 1000)),
            "traccar-text": at.strftime("%Y-%m-%d %H:%M:%S")}[stamp]
    response = anon.get("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4",
                                           "timestamp": text})
    assert response.status_code == 200, response.text
    assert [p.recorded_at for p in positions(db, tenant.account_id)] == [at]


def test_osmand_form_body_and_aliases(anon: TestClient, key: str, db: Database,
                                      tenant: Tenant) -> None:
    """A form-encoded POST body works, with ``deviceid``, ``location`` and ``heading``."""
    at = recent(20)
    body = f"deviceid={key}&location=52.5001%2C13.4001&timestamp={int(at.timestamp())}&heading=45"
    response = anon.post("/osmand", content=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    [row] = positions(db, tenant.account_id)
    assert (row.lat, row.lon, row.bearing) == (52.5001, 13.4001, 45.0)


def test_osmand_post_with_query_and_no_timestamp(anon: TestClient, key: str, db: Database,
                                                 tenant: Tenant) -> None:
    """Traccar Client's POST with parameters in the URL; no timestamp means "received now"."""
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = anon.post("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4"})
    assert response.status_code == 200, response.text
    [row] = positions(db, tenant.account_id)
    assert before <= row.recorded_at <= datetime.now(UTC)


def test_traccar_client_json(anon: TestClient, key: str, db: Database, tenant: Tenant) -> None:
    """Traccar Client 9's JSON: m/s speed, heading, battery level as a fraction, -1 unknown."""
    at = recent(25)
    body: dict[str, Any] = {"device_id": key, "location": {
        "timestamp": ts(at), "is_moving": True, "odometer": 12.5, "event": "motionchange",
        "coords": {"latitude": 52.51, "longitude": 13.41, "accuracy": 4.2, "speed": 7.5,
                   "heading": 180.0, "altitude": 41.0, "speed_accuracy": 1.0},
        "battery": {"level": 0.85, "is_charging": True},
        "activity": {"type": "in_vehicle", "confidence": 90}, "extras": {}}}
    response = anon.post("/osmand", json=body)
    assert response.status_code == 200, response.text
    later = {"device_id": key, "location": [{
        "timestamp": ts(at + timedelta(seconds=10)),
        "coords": {"latitude": 52.5101, "longitude": 13.4101, "accuracy": 5, "speed": -1,
                   "heading": -1, "altitude": 40},
        "battery": {"level": -1, "is_charging": False}}]}
    assert anon.post("/osmand", json=later).status_code == 200
    first, second = positions(db, tenant.account_id)
    assert (first.lat, first.lon, first.accuracy, first.speed) == (52.51, 13.41, 4.2, 7.5)
    assert (first.bearing, first.altitude, first.battery) == (180.0, 41.0, 85.0)
    assert second.speed is None and second.bearing is None and second.battery is None


def test_malformed_osmand_requests_name_the_field(anon: TestClient, key: str) -> None:
    """Missing coordinates or text for a number are 422s at their location."""
    missing = anon.get("/osmand", params={"id": key, "lon": "13.4"})
    assert missing.status_code == 422
    assert missing.json()["detail"] == {"query": {"lat": ["Missing data for required field."]}}
    bad = anon.post("/osmand", content=f"id={key}&lat=north&lon=13",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 422 and "lat" in bad.json()["detail"]["form"]
    stamp = anon.get("/osmand", params={"id": key, "lat": "1", "lon": "2", "timestamp": "soon"})
    assert stamp.status_code == 422 and "timestamp" in stamp.json()["detail"]["query"]
    no_coords = anon.post("/osmand", json={"device_id": key, "location": {
        "timestamp": ts(recent(5))}})
    assert no_coords.status_code == 422
    assert messages_at(no_coords.json()["detail"], "json", "location.coords") == [
        "Missing data for required field."]
    garbage = anon.post("/osmand", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422


def test_osmand_unknown_keys_store_nothing(anon: TestClient, key: str, db: Database,
                                           tenant: Tenant) -> None:
    """An unknown or missing ``id`` is a 401 and nothing is stored, in every request form."""
    params = {"lat": "52.5", "lon": "13.4"}
    assert anon.get("/osmand", params=params).status_code == 401
    assert anon.get("/osmand", params={**params, "id": "123456"}).status_code == 401
    assert anon.post("/osmand", json={"device_id": "rkd_" + "A" * 43, "location": {
        "timestamp": ts(recent(5)),
        "coords": {"latitude": 52.5, "longitude": 13.4}}}).status_code == 401
    assert stored_positions(db, tenant.account_id, "phone") == 0


def test_osmand_rejected_fix_is_acknowledged_with_its_reason(
    anon: TestClient, key: str, db: Database, tenant: Tenant
) -> None:
    """An implausible fix is answered 200 (so the client does not resend it forever), reported
    with its reason, and not stored."""
    future = datetime.now(UTC) + timedelta(hours=2)
    response = anon.get("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4",
                                           "timestamp": str(int(future.timestamp()))})
    assert response.status_code == 200
    assert response.json()["rejections"] == [{"index": 0,
                                              "reason": "recorded_at is in the future"}]
    assert stored_positions(db, tenant.account_id, "phone") == 0


def test_owntracks_location_message(anon: TestClient, key: str, db: Database,
                                    tenant: Tenant) -> None:
    """An OwnTracks location is stored (``vel`` km/h to m/s) and answered with ``[]``."""
    at = recent(15)
    body = {"_type": "location", "lat": 52.52, "lon": 13.42, "tst": int(at.timestamp()),
            "acc": 12, "vel": 36, "cog": 270, "alt": 50, "batt": 64, "tid": "ph", "t": "u",
            "bs": 1, "conn": "w", "created_at": int(at.timestamp()) + 1}
    response = anon.post("/owntracks", json=body, headers=basic("phone", key))
    assert response.status_code == 200 and response.json() == []
    [row] = positions(db, tenant.account_id)
    assert row.recorded_at == at and (row.lat, row.lon) == (52.52, 13.42)
    assert row.speed == pytest.approx(10.0)
    assert (row.bearing, row.altitude, row.accuracy, row.battery) == (270.0, 50.0, 12.0, 64.0)


def test_owntracks_other_messages_and_credentials(anon: TestClient, key: str, db: Database,
                                                  tenant: Tenant) -> None:
    """Non-location messages are acknowledged and ignored; wrong credentials are 401s."""
    transition = {"_type": "transition", "event": "enter", "tst": 1700000000, "lat": 1, "lon": 2}
    ok = anon.post("/owntracks", json=transition, headers=basic("phone", key))
    assert ok.status_code == 200 and ok.json() == []
    location = {"_type": "location", "lat": 52.5, "lon": 13.4,
                "tst": int(recent(5).timestamp())}
    for headers in ({}, basic("other-device", key), basic("phone", "rkd_" + "B" * 43)):
        refused = anon.post("/owntracks", json=location, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
    missing = anon.post("/owntracks", json={"_type": "location", "lat": 1, "lon": 2},
                        headers=basic("phone", key))
    assert missing.status_code == 422 and "tst" in missing.json()["detail"]["json"]
    assert stored_positions(db, tenant.account_id, "phone") == 0
