"""Helpers of the tracking API tests: devices, tracked routes, simulated drives on the wire.

A simulated drive (``simulate.three_stop_drive``) is recorded around ``T0``; on the wire it is
moved so that it ends a minute before the real clock, the route is back-dated to its start,
and the tracking clock is set to each upload's arrival time as the uploads are replayed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from starlette.testclient import TestClient

from routekeeper.core.jobs import JobContext
from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.position import Position
from routekeeper.models.route import Route
from routekeeper.settings import Settings, TrackingSettings
from routekeeper.tracking import clock
from routekeeper.tracking.engine.fixes import Fix, format_utc_ms, mps_to_knots
from routekeeper.tracking.engine.pipeline import TrackedOrder
from routekeeper.tracking.routestate import StoredState, load
from routekeeper.tracking.tasks import check_route, run_checks
from tests.conftest import Tenant
from tests.processing import drain

from .simulate import ORIGIN, T0, SimulatedDrive, offset, three_stop_drive

LON, LAT = 13.3777, 52.5163


def ts(value: datetime) -> str:
    """A timestamp with milliseconds and Z."""
    return format_utc_ms(value)


def make_worker(api: TestClient, handle: str) -> str:
    """Create a worker in the default ops group."""
    response = api.post("/workers/", json={"worker_handle": handle, "name": f"Driver {handle}"})
    assert response.status_code in (200, 201), response.text
    return handle


def register(api: TestClient, device_id: str, worker_handle: str, **fields: Any) -> str:
    """Register a device for a worker; its ingest key."""
    response = api.post("/devices/", json={"device_id": device_id,
                                           "worker_handle": worker_handle, **fields})
    assert response.status_code == 201, response.text
    key: str = response.json()["ingest_key"]
    return key


def location(fix: Fix) -> dict[str, Any]:
    """A fix as a ``LocationIn`` item."""
    return {"recorded_at": ts(fix.recorded_at),
            "geometry": {"type": "Point", "coordinates": [fix.lon, fix.lat]},
            "accuracy": fix.accuracy_m, "speed": fix.speed_mps, "bearing": fix.bearing_deg,
            "altitude": fix.altitude_m, "battery": fix.battery_percent}


def bearer(key: str) -> dict[str, str]:
    """An Authorization header with an ingest key."""
    return {"Authorization": f"Bearer {key}"}


def basic(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic Authorization header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def osmand_params(key: str, fix: Fix, *, iso: bool = False) -> dict[str, str]:
    """OsmAnd parameters as Traccar Client sends them (speed in knots)."""
    params = {"id": key, "lat": repr(fix.lat), "lon": repr(fix.lon),
              "timestamp": (ts(fix.recorded_at) if iso
                            else str(int(fix.recorded_at.timestamp())))}
    if fix.accuracy_m is not None:
        params["accuracy"] = repr(fix.accuracy_m)
    if fix.speed_mps is not None:
        params["speed"] = repr(mps_to_knots(fix.speed_mps))
    if fix.battery_percent is not None:
        params["batt"] = repr(fix.battery_percent)
    return params


def traccar_json(key: str, fix: Fix) -> dict[str, Any]:
    """The JSON body Traccar Client 9 posts (background-geolocation format)."""
    return {"device_id": key, "location": {
        "timestamp": ts(fix.recorded_at), "is_moving": True, "event": "motionchange",
        "odometer": 0, "uuid": "0f6b1e1c", "activity": {"type": "in_vehicle", "confidence": 100},
        "coords": {"latitude": fix.lat, "longitude": fix.lon,
                   "accuracy": fix.accuracy_m if fix.accuracy_m is not None else -1,
                   "speed": fix.speed_mps if fix.speed_mps is not None else -1,
                   "heading": fix.bearing_deg if fix.bearing_deg is not None else -1,
                   "altitude": fix.altitude_m or 0.0, "altitude_accuracy": 3.0},
        "battery": {"level": (fix.battery_percent / 100.0
                              if fix.battery_percent is not None else -1),
                    "is_charging": False},
        "extras": {}}}


def owntracks_json(fix: Fix) -> dict[str, Any]:
    """An OwnTracks location message (``vel`` in km/h, ``tst`` in seconds)."""
    body: dict[str, Any] = {"_type": "location", "lat": fix.lat, "lon": fix.lon,
                            "tst": int(fix.recorded_at.timestamp()), "tid": "rk", "t": "u",
                            "conn": "m", "bs": 1, "topic": "owntracks/rk/phone"}
    if fix.accuracy_m is not None:
        body["acc"] = round(fix.accuracy_m)
    if fix.battery_percent is not None:
        body["batt"] = round(fix.battery_percent)
    if fix.speed_mps is not None:
        body["vel"] = round(fix.speed_mps * 3.6)
    return body


@dataclass
class TrackClock:
    """The tracking clock of a test: uploads are "received" when the test says."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        """The current test time."""
        return self.now


@dataclass
class WireDrive:
    """A simulated drive moved onto the real timeline, with its tracked route."""

    drive: SimulatedDrive
    shift: timedelta
    route_handle: str
    handles: dict[str, str]
    worker_handle: str

    def at(self, seconds: float) -> datetime:
        """The real instant of ``seconds`` into the drive."""
        return T0 + self.shift + timedelta(seconds=seconds)

    def moved(self, fix: Fix) -> Fix:
        """A fix of the drive on the real timeline."""
        return Fix(fix.recorded_at + self.shift, fix.lon, fix.lat, fix.accuracy_m,
                   fix.speed_mps, fix.bearing_deg, fix.altitude_m, fix.battery_percent)


def order_request(order: TrackedOrder, handle: str, shift: timedelta) -> dict[str, Any]:
    """A track request order for a simulated stop."""
    assert order.scheduled_at is not None
    return {
        "order_handle": handle,
        "destination": {"geometry": {"type": "Point",
                                     "coordinates": list(order.geofence.center)},
                        "radius": round(order.geofence.radius_m), "address": f"Stop {handle}"},
        "scheduled_at": ts(order.scheduled_at + shift),
        "expected_service_time": round(order.service_s),
    }


def start_drive(api: TestClient, db: Database, account_id: str, worker_handle: str,
                seed: int, *, interval_s: float = 5.0, prefix: str = "o") -> WireDrive:
    """Track a route over a simulated drive's stops, back-dated to the drive's start."""
    drive = three_stop_drive(seed, interval_s=interval_s)
    end = T0 + timedelta(seconds=drive.end_s + 60)
    shift = (datetime.now(UTC) - timedelta(seconds=60)) - end
    shift = timedelta(seconds=round(shift.total_seconds()))
    handles = {o.order_key: f"{prefix}-{o.order_key}-{seed}" for o in drive.orders}
    body = {"track_mode": "on_time", "worker_handle": worker_handle,
            "orders": [order_request(o, handles[o.order_key], shift) for o in drive.orders]}
    response = api.post("/orders/track", json=body)
    assert response.status_code == 201, response.text
    route_handle = response.json()["route_handle"]
    backdate(db, account_id, route_handle, T0 + shift)
    return WireDrive(drive, shift, route_handle, handles, worker_handle)


def backdate(db: Database, account_id: str, route_handle: str, started_at: datetime) -> None:
    """Pretend the route (and its orders) started tracking at ``started_at``."""
    with db.write() as session:
        session.execute(update(Route).where(Route.account_id == account_id,
                                            Route.route_handle == route_handle)
                        .values(started_at=started_at, track_state=None))
        session.execute(update(Order).where(Order.account_id == account_id,
                                            Order.route_handle == route_handle)
                        .values(started_at=started_at))


def outbox(db: Database, account_id: str, *, order_handle: str | None = None,
           value: str | None = None) -> list[dict[str, Any]]:
    """Order webhook envelopes of an account, oldest first."""
    with db.read() as session:
        query = select(OutboxEvent).where(OutboxEvent.account_id == account_id,
                                          OutboxEvent.type == "order")
        if order_handle is not None:
            query = query.where(OutboxEvent.order_handle == order_handle)
        if value is not None:
            query = query.where(OutboxEvent.value == value)
        return [dict(e.payload) for e in session.scalars(query.order_by(OutboxEvent.seq))]


def route_state(db: Database, account_id: str, route_handle: str) -> StoredState:
    """A tracked route's state as the product reads it: the stored checkpoint with the
    batches of its tail replayed (``routestate.load``)."""
    with db.read() as session:
        route = session.get(Route, (account_id, route_handle))
        assert route is not None and route.track_state is not None
        return load(route, [], now=clock.now(), settings=TrackingSettings())


def stored_positions(db: Database, account_id: str, device_id: str) -> int:
    """How many positions a device has stored."""
    with db.read() as session:
        return len(session.scalars(select(Position.recorded_at).where(
            Position.account_id == account_id, Position.device_id == device_id)).all())


def check(db: Database, settings: Settings, account_id: str, route_handle: str) -> None:
    """Run the periodic tracking step for one route at the tracking clock's time."""
    with db.write() as session:
        check_route(session, settings, account_id, route_handle, now=clock.now())


def run_job(db: Database, settings: Settings) -> int:
    """Run the registered periodic job once, as the runner would."""
    ctx = JobContext(job_id="test", task="tracking.check_offline", payload={},
                     account_id=None, attempt=1, max_attempts=1, worker_id="test", db=db,
                     lease_s=60.0, env={"settings": settings})
    return run_checks(ctx)




SPEED_MPS = 10.0


@dataclass
class Road:
    """A route along a road east of ORIGIN: stop P at 1 km, Q at 2 km; started 30 min ago."""

    api: TestClient
    device: TestClient
    key: str
    db: Database
    account_id: str
    clock: TrackClock
    route_handle: str
    started_at: datetime
    handles: dict[str, str]

    def fix(self, seconds: float, east_m: float, accuracy_m: float = 5.0) -> Fix:
        """A fix ``seconds`` after the start, ``east_m`` along the road."""
        lon, lat = offset(ORIGIN, east_m, 0.0)
        return Fix(self.started_at + timedelta(seconds=seconds), lon, lat, accuracy_m=accuracy_m,
                   battery_percent=90.0)

    def upload(self, *fixes: Fix, now: datetime | None = None) -> dict[str, Any]:
        """Post fixes with the clock just after the newest (or at ``now``)."""
        self.clock.now = now or max(f.recorded_at for f in fixes) + timedelta(seconds=2)
        response = self.device.post("/devices/phone/locations", headers=bearer(self.key),
                                    json={"locations": [location(f) for f in fixes]})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        # A worker's tracking processor takes the stored fixes right after the upload.
        drain(self.device)
        return body

    def drive(self, start_s: float, end_s: float, from_m: float, to_m: float,
              step_s: float = 10.0) -> list[Fix]:
        """Fixes of driving (or standing, when from_m == to_m) between two times."""
        fixes = []
        t = start_s
        while t <= end_s:
            f = (t - start_s) / (end_s - start_s) if end_s > start_s else 1.0
            fixes.append(self.fix(t, from_m + f * (to_m - from_m)))
            t += step_s
        return fixes

    def order(self, name: str) -> dict[str, Any]:
        """GET /orders/{handle} of stop ``name``."""
        body: dict[str, Any] = self.api.get(f"/orders/{self.handles[name]}").json()
        return body

    def tracking_id(self, name: str) -> str:
        """The public tracking id of stop ``name``."""
        return str(self.order(name)["share_url"]).rsplit("/", 1)[-1]


def make_road(api: TestClient, db: Database, tenant: Tenant, clock: TrackClock,
              *, scheduled_after_s: float = 3600.0, prefix: str = "r") -> Road:
    """Track a two-stop route for worker ``driver`` with device ``phone``."""
    make_worker(api, "driver")
    key = register(api, "phone", "driver")
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    handles = {"P": f"{prefix}-P", "Q": f"{prefix}-Q"}
    orders = [{"order_handle": handles[name],
               "destination": {"geometry": {"type": "Point",
                                            "coordinates": list(offset(ORIGIN, east, 0.0))},
                               "radius": 50, "address": f"{name} street"},
               "scheduled_at": ts(started_at + timedelta(seconds=scheduled_after_s + i * 600)),
               "expected_service_time": 120}
              for i, (name, east) in enumerate((("P", 1000.0), ("Q", 2000.0)))]
    response = api.post("/orders/track", json={"track_mode": "on_time",
                                               "worker_handle": "driver", "orders": orders})
    assert response.status_code == 201, response.text
    route_handle = response.json()["route_handle"]
    backdate(db, tenant.account_id, route_handle, started_at)
    clock.now = started_at
    return Road(api, TestClient(api.app, raise_server_exceptions=False), key, db,
                tenant.account_id, clock, route_handle, started_at, handles)


def arrive_at_p(road: Road) -> None:
    """Drive to P (100 s) and stand there for a minute."""
    road.upload(*road.drive(0, 100, 0, 1000))
    road.upload(*road.drive(110, 170, 1000, 1000))


def stand_at_p_now(road: Road) -> None:
    """After reaching P, keep reporting from P up to the real clock (the orders domain stamps
    completion with it), 3 m from its centre."""
    arrive_at_p(road)
    now = datetime.now(UTC).replace(microsecond=0)
    lon, lat = offset(ORIGIN, 1003, 0.0)
    road.upload(Fix(now - timedelta(seconds=3), lon, lat, accuracy_m=4.0), now=now)
