"""Simulated drives through each protocol, end to end: visits, ETAs, risks and actuals as the
Orders API, the route and the public tracking page show them.

The drives (``simulate.three_stop_drive``) carry GPS noise, dishonest spikes, outages and
duplicates; uploads are cut into shuffled chunks with some fixes held back to later uploads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.tracking.engine.fixes import Fix
from tests.conftest import Tenant
from tests.processing import drain

from .api_helpers import (
    TrackClock,
    WireDrive,
    basic,
    bearer,
    check,
    location,
    make_worker,
    osmand_params,
    outbox,
    owntracks_json,
    register,
    start_drive,
    traccar_json,
    ts,
)
from .simulate import FakeTravel, deliver_in_chunks

PROTOCOLS = {"json": (1, 5.0), "osmand": (2, 10.0), "traccar": (3, 10.0),
             "owntracks": (4, 10.0)}


def send(protocol: str, client: TestClient, device_id: str, key: str, chunk: list[Fix]) -> None:
    """Upload one chunk of fixes the way a device speaking ``protocol`` would."""
    if protocol == "json":
        response = client.post(f"/devices/{device_id}/locations", headers=bearer(key),
                               json={"locations": [location(f) for f in chunk]})
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0
        return
    for fix in chunk:
        if protocol == "osmand":
            response = client.get("/osmand", params=osmand_params(key, fix))
        elif protocol == "traccar":
            response = client.post("/osmand", json=traccar_json(key, fix))
        else:
            response = client.post("/owntracks", json=owntracks_json(fix),
                                   headers=basic(device_id, key))
            assert response.json() == []
        assert response.status_code == 200, response.text


def replay(wire: WireDrive, protocol: str, client: TestClient, key: str, clock: TrackClock,
           seed: int, *, on_upload: Any = None) -> int:
    """Upload the whole drive in shuffled chunks, the clock at each upload's arrival."""
    fixes = [wire.moved(f) for f in wire.drive.fixes]
    chunks = deliver_in_chunks(fixes, seed + 100, min_chunk=2, max_chunk=12, late_rate=0.03)
    for chunk in chunks:
        clock.now = max(f.recorded_at for f in chunk) + timedelta(seconds=2)
        if protocol != "json":
            # A device sending one fix a request flushes its buffer oldest first; fixes held
            # back from an earlier upload still arrive after newer ones (late).
            chunk = sorted(chunk, key=lambda f: f.recorded_at)
        send(protocol, client, "phone", key, chunk)
        drain(client)  # the worker's tracking processor, right after the upload
        if on_upload is not None:
            on_upload(clock.now)
    return len({f.recorded_at for f in fixes})


def _risk_labels(db: Database, account_id: str, handle: str, risk: str) -> list[str]:
    return [e["data"]["risks"][risk]["intensity_label"]
            for e in outbox(db, account_id, order_handle=handle, value="risk_updated")
            if risk in e["data"]["risks"]]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_a_tracked_route_from_start_to_completion(
    protocol: str, api: TestClient, anon: TestClient, db: Database, tenant: Tenant,
    settings: Settings, track_clock: TrackClock, travel: FakeTravel,
) -> None:
    """Every order arrives and exits once near the true times; ETAs, risks, timeline,
    webhooks and actuals follow, and the public page shows the worker only while live."""
    seed, interval_s = PROTOCOLS[protocol]
    make_worker(api, "driver")
    key = register(api, "phone", "driver")
    wire = start_drive(api, db, tenant.account_id, "driver", seed, interval_s=interval_s)
    handles = wire.handles
    truth = wire.drive.truth
    tracking_ids = {k: api.get(f"/orders/{h}").json()["share_url"].rsplit("/", 1)[-1]
                    for k, h in handles.items()}
    seen: dict[str, Any] = {}

    def peek(now: datetime) -> None:
        # Once A is left behind and B is ahead: A's page hides the worker, B's shows them.
        if "mid" not in seen and now >= wire.at(truth["A"].left_s + 120):
            seen["mid"] = {k: anon.get(f"/tracking/{tracking_ids[k]}").json() for k in "AB"}
            seen["B"] = api.get(f"/orders/{handles['B']}").json()
            seen["now"] = now

    unique = replay(wire, protocol, anon, key, track_clock, seed, on_upload=peek)
    mid = seen["mid"]
    assert mid["A"]["driver"]["location"] is None and mid["A"]["order"]["exited_at"]
    assert mid["B"]["driver"]["location"]["geometry"]["type"] == "Point"
    assert mid["B"]["driver"]["status"] == "active"
    # ETAs are never in the past.
    assert mid["B"]["order"]["estimate"]["arrive_at"] >= ts(seen["now"])
    live_b = seen["B"]["estimate"]
    assert live_b["arrive_at"] >= ts(seen["now"]) and live_b["remaining_distance"] > 0
    assert live_b["initial_arrive_at"] is not None

    for key_, handle in handles.items():
        order = api.get(f"/orders/{handle}").json()
        arrived_s = (datetime.fromisoformat(order["arrived_at"]) - wire.at(0)).total_seconds()
        exited_s = (datetime.fromisoformat(order["exited_at"]) - wire.at(0)).total_seconds()
        assert truth[key_].entered_radius_s - 10 <= arrived_s <= truth[key_].reached_s + 20
        assert truth[key_].left_s - 30 <= exited_s <= truth[key_].left_s + interval_s + 60
        assert abs(order["actual_service_time"] - (exited_s - arrived_s)) <= 1
        assert order["visited_destination"] is True
        assert order["estimate"]["arrive_at"] is None
        assert order["distance"] > 0 and 0.5 < order["tracking_rate"] <= 1.0
        assert order["polyline"]["type"] == "LineString"
        assert all(len(p) == 4 for p in order["polyline"]["coordinates"])
        assert set(order["risks"]) >= {"delayed_from_scheduled_at", "is_offline",
                                       "in_low_battery"}
        types = [e["type"] for e in order["timeline"]]
        for kind in ("order_geofence_entered", "order_service_started",
                     "order_geofence_exited", "order_service_ended"):
            assert types.count(kind) == 1, (key_, kind)
        for value in ("arrived", "exited", "first_eta"):
            assert len(outbox(db, tenant.account_id, order_handle=handle, value=value)) == 1
        arrival = outbox(db, tenant.account_id, order_handle=handle, value="arrived")[0]
        assert arrival["data"]["arrival"]["recorded_at"] == order["arrived_at"]
        assert arrival["data"]["status"] == "ongoing"

    # The jam before B pushed its ETA past scheduled_at; the fast drive cleared it.
    labels = _risk_labels(db, tenant.account_id, handles["B"], "delayed_from_scheduled_at")
    assert "red" in labels and labels[-1] == "green"
    assert len(outbox(db, tenant.account_id, order_handle=handles["B"], value="delayed")) == 1

    check(db, settings, tenant.account_id, wire.route_handle)
    route = api.get(f"/orders/routes/{wire.route_handle}").json()
    assert route["distance"] == pytest.approx(wire.drive.trajectory.length_m(), rel=0.1)
    assert 0.8 < route["tracking_rate"] < 1.0
    assert len(route["polyline"]["coordinates"]) == unique
    assert route["start_location"]["type"] == route["end_location"]["type"] == "Point"

    for handle in handles.values():
        assert api.post(f"/orders/{handle}/complete").status_code == 200
    if api.get(f"/orders/routes/{wire.route_handle}").json()["status"] != "completed":
        # Routes complete themselves with their last order where the routes domain does so.
        assert api.post(f"/orders/routes/{wire.route_handle}/complete").status_code == 200
    check(db, settings, tenant.account_id, wire.route_handle)
    for handle in handles.values():
        order = api.get(f"/orders/{handle}").json()
        assert order["status"] == "completed"
        # The worker left every stop long before completing it.
        assert order["completed_at_destination"] is False
        assert order["deviation_from_destination"] > 100
    final = api.get(f"/orders/routes/{wire.route_handle}").json()
    assert final["status"] == "completed" and 0.8 < final["tracking_rate"] < 1.0
    assert final["polyline"] == route["polyline"] and final["distance"] == route["distance"]
    page = anon.get(f"/tracking/{tracking_ids['C']}").json()
    assert page["driver"]["location"] is None and page["order"]["status"] == "completed"
    assert page["order"]["summary"]["locations"]
