"""Hand-made drives along a straight road: late fixes, the public page, completion at the
destination, the periodic job (offline, clock-driven delays), tenancy and concurrent uploads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.settings import Settings
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.processor import process_pending
from tests.conftest import Tenant
from tests.processing import drain

from .api_helpers import (
    SPEED_MPS,
    Road,
    TrackClock,
    arrive_at_p,
    bearer,
    check,
    location,
    make_road,
    outbox,
    register,
    route_state,
    run_job,
    stand_at_p_now,
    ts,
)
from .simulate import ORIGIN, FakeTravel, offset


@pytest.fixture
def road(api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock,
         travel: FakeTravel) -> Road:
    """A fresh two-stop road for one test."""
    return make_road(api, db, tenant, track_clock)


def test_late_fixes_never_flip_an_arrival(road: Road) -> None:
    """Fixes older than the newest one, far from P, neither undo nor end the visit."""
    arrive_at_p(road)
    arrived = road.order("P")["arrived_at"]
    assert arrived == ts(road.started_at + timedelta(seconds=100))
    late_before = road.fix(95, 950, accuracy_m=5)
    late_during = road.fix(165, 1800, accuracy_m=5)
    result = road.upload(late_before, late_during, now=road.clock.now + timedelta(seconds=5))
    assert result["accepted"] == 2 and result["rejected"] == 0
    order = road.order("P")
    assert order["arrived_at"] == arrived and order["exited_at"] is None
    assert [e["type"] for e in order["timeline"]].count("order_geofence_entered") == 1
    assert len(outbox(road.db, road.account_id, order_handle=road.handles["P"],
                      value="arrived")) == 1
    assert outbox(road.db, road.account_id, order_handle=road.handles["P"], value="exited") == []


def test_public_page_shows_the_worker_only_while_the_order_is_live(
    road: Road, anon: TestClient
) -> None:
    """Before any fix nothing; while on the way the position and ETA; after leaving P, P's
    page hides the worker while Q's still shows them; unknown ids are 404s."""
    before = anon.get(f"/tracking/{road.tracking_id('P')}")
    assert before.status_code == 200
    assert before.json()["driver"]["location"] is None
    assert before.json()["driver"]["driver_handle"] == "driver"
    road.upload(*road.drive(0, 50, 0, 500))
    page = anon.get(f"/tracking/{road.tracking_id('P')}").json()
    assert page["driver"]["location"]["geometry"]["coordinates"][0] == pytest.approx(
        offset(ORIGIN, 500, 0)[0])
    assert page["driver"]["status"] == "active" and page["driver"]["device_id"] == "phone"
    assert page["order"]["estimate"]["arrive_at"] >= ts(road.clock.now)
    assert page["order"]["order_handle"] == road.handles["P"]
    assert road.handles["Q"] not in before.text + anon.get(
        f"/tracking/{road.tracking_id('P')}").text
    arrive_at_p(road)
    road.upload(*road.drive(180, 230, 1000, 1500))
    left = anon.get(f"/tracking/{road.tracking_id('P')}").json()
    assert left["order"]["exited_at"] is not None and left["driver"]["location"] is None
    assert left["order"]["estimate"] is None and left["order"]["summary"]["locations"]
    ahead = anon.get(f"/tracking/{road.tracking_id('Q')}").json()
    assert ahead["driver"]["location"] is not None and ahead["order"]["exited_at"] is None
    missing = anon.get("/tracking/no-such-id")
    assert missing.status_code == 404 and set(missing.json()) == {"detail", "message"}


def test_completing_on_site_through_the_api(road: Road, settings: Settings) -> None:
    """Completed at P through the API: deviation and completed_at_destination come from the
    last position (the next periodic step keeps them), and P gets no more events."""
    stand_at_p_now(road)
    assert road.api.post(f"/orders/{road.handles['P']}/complete").status_code == 200
    check(road.db, settings, road.account_id, road.route_handle)
    order = road.order("P")
    assert order["completed_at_destination"] is True and order["visited_destination"] is True
    assert 0 <= order["deviation_from_destination"] <= 10
    assert order["polyline"]["coordinates"]
    road.upload(*[road.fix(s, 1000 + (s - 1800) * SPEED_MPS) for s in range(1800, 1900, 10)],
                now=datetime.now(UTC) + timedelta(seconds=2))
    assert outbox(road.db, road.account_id, order_handle=road.handles["P"], value="exited") == []


def test_completion_hook_fills_deviation_before_the_webhook(road: Road) -> None:
    """Completing at P fills deviation and completed_at_destination in the order, its timeline
    entry and its ``completed`` webhook, and closes P in the route state."""
    stand_at_p_now(road)
    response = road.api.post(f"/orders/{road.handles['P']}/complete")
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["completed_at_destination"] is True
    assert order["visited_destination"] is True
    assert 0 <= order["deviation_from_destination"] <= 10
    completed = [e for e in order["timeline"] if e["type"] == "order_completed"]
    assert completed[0]["deviation_from_destination"] == order["deviation_from_destination"]
    webhook = outbox(road.db, road.account_id, order_handle=road.handles["P"],
                     value="completed")[0]
    assert webhook["data"]["deviation"] == order["deviation_from_destination"]
    state = route_state(road.db, road.account_id, road.route_handle).pipeline
    with road.db.read() as session:
        p_id = session.scalars(select(Order.id).where(
            Order.account_id == road.account_id,
            Order.order_handle == road.handles["P"])).one()
        assert state.order(p_id).closed_at is not None


def test_offline_risk_rises_and_clears(road: Road, settings: Settings) -> None:
    """No fix for longer than offline_after_s turns is_offline red (job); a fix clears it."""
    road.upload(*road.drive(0, 30, 0, 300))
    road.clock.now = road.started_at + timedelta(seconds=30 + settings.tracking.offline_after_s
                                                 + 60)
    check(road.db, settings, road.account_id, road.route_handle)
    order = road.order("P")
    assert order["risks"]["is_offline"] == "red" and order["risk_status"] is True
    road.upload(road.fix(700, 320))
    order = road.order("P")
    assert order["risks"]["is_offline"] == "green"
    labels = [e["data"]["risks"]["is_offline"]["intensity_label"]
              for e in outbox(road.db, road.account_id, order_handle=road.handles["P"],
                              value="risk_updated") if "is_offline" in e["data"]["risks"]]
    assert labels == ["red", "green"]


def test_clock_driven_delay_fires_once_and_etas_stay_ahead(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel,
    settings: Settings,
) -> None:
    """A worker standing still past scheduled_at: ``delayed`` once, ETA never in the past."""
    road = make_road(api, db, tenant, track_clock, scheduled_after_s=300.0, prefix="late")
    road.upload(*road.drive(0, 60, 0, 0))
    for minutes in (4, 8, 12):
        road.clock.now = road.started_at + timedelta(minutes=minutes)
        check(db, settings, road.account_id, road.route_handle)
        estimate = road.order("P")["estimate"]
        assert estimate["arrive_at"] >= ts(road.clock.now)
    delayed = outbox(db, road.account_id, order_handle=road.handles["P"], value="delayed")
    assert len(delayed) == 1
    assert delayed[0]["data"]["scheduled_at"] == road.order("P")["scheduled_at"]
    assert road.order("P")["risks"]["delayed_from_scheduled_at"] == "red"


def test_the_registered_job_checks_every_tracking_route(
    road: Road, settings: Settings
) -> None:
    """``tracking.check_offline`` is registered every 30 s and reaches this account's route."""
    from routekeeper.core.jobs import registry
    from routekeeper.worker import TASK_MODULES

    assert "routekeeper.tracking.tasks" in TASK_MODULES
    spec = registry.get("tracking.check_offline")
    assert spec is not None and spec.every_s == 30
    road.clock.now = road.started_at + timedelta(hours=1)
    assert run_job(road.db, settings) >= 1
    assert road.order("P")["risks"]["is_offline"] == "red"


def test_positions_feed_only_their_own_accounts_routes(
    road: Road, other_tenant: Tenant, db: Database, track_clock: TrackClock
) -> None:
    """Another account's worker with the same handle and a tracking route is not fed."""
    other = make_road(other_tenant.client, db, other_tenant, track_clock, prefix="other")
    result = road.upload(*road.drive(0, 50, 0, 500))
    assert result["route_handles"] == [road.route_handle]
    assert other.order("P")["estimate"].get("remaining_distance") is None
    with db.read() as session:
        theirs = session.get(Route, (other.account_id, other.route_handle))
        assert theirs is not None and theirs.track_state is None


def test_concurrent_uploads_lose_nothing(road: Road) -> None:
    """Two devices of the worker uploading at once while two processors take their fixes:
    every fix reaches the route state once (both processors go through the devices in the
    same order, each group claimed by one of them)."""
    second_key = register(road.api, "tablet", "driver")
    fixes = road.drive(0, 390, 0, 3900, step_s=5.0)
    ours, theirs = fixes[::2], fixes[1::2]
    road.clock.now = fixes[-1].recorded_at + timedelta(seconds=2)
    errors: list[str] = []

    def post(device_id: str, key: str, batch: list[Fix]) -> None:
        client = TestClient(road.api.app, raise_server_exceptions=False)
        for start in range(0, len(batch), 5):
            response = client.post(f"/devices/{device_id}/locations", headers=bearer(key),
                                   json={"locations": [location(f)
                                                       for f in batch[start:start + 5]]})
            if response.status_code != 200:
                errors.append(response.text)

    uploading = threading.Event()
    uploading.set()

    def process() -> None:
        state = road.api.app.state
        while uploading.is_set():
            process_pending(state.db, state.settings, state.travel)

    processors = [threading.Thread(target=process) for _ in range(2)]
    threads = [threading.Thread(target=post, args=("phone", road.key, ours)),
               threading.Thread(target=post, args=("tablet", second_key, theirs))]
    for thread in processors + threads:
        thread.start()
    for thread in threads:
        thread.join()
    uploading.clear()
    for thread in processors:
        thread.join()
    drain(road.api)
    assert errors == []
    stored = route_state(road.db, road.account_id, road.route_handle)
    state = stored.pipeline
    assert state.fixes_accepted + state.fixes_late + state.fixes_rejected == len(fixes)
    assert sorted(stored.devices) == ["phone", "tablet"]


def test_batches_in_reverse_order_still_make_every_stop_arrive_once(road: Road) -> None:
    """Three batches of one drive past P and Q uploaded newest first (a retried upload, two
    racing ones): each stop's whole visit came late and none arrived; now both arrive and
    exit exactly once, at their true times, and a resent batch changes nothing."""
    to_p = road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000) \
        + road.drive(180, 260, 1100, 1500)
    to_q = road.drive(270, 370, 1550, 2000) + road.drive(380, 440, 2000, 2000) \
        + road.drive(450, 550, 2100, 2500)
    beyond = road.drive(560, 660, 2550, 3000)
    now = road.started_at + timedelta(seconds=700)
    for batch in (beyond, to_q, to_p):
        result = road.upload(*batch, now=now)
        assert result["rejected"] == 0, result
    for name, window in (("P", (100, 170)), ("Q", (370, 440))):
        order = road.order(name)
        assert order["arrived_at"] is not None, name
        arrived = datetime.fromisoformat(order["arrived_at"].replace("Z", "+00:00"))
        exited = datetime.fromisoformat(order["exited_at"].replace("Z", "+00:00"))
        assert road.started_at + timedelta(seconds=window[0] - 10) <= arrived \
            <= road.started_at + timedelta(seconds=window[1]), (name, arrived)
        assert arrived < exited <= road.started_at + timedelta(seconds=window[1] + 90)
        for value in ("arrived", "exited"):
            sent = outbox(road.db, road.account_id, order_handle=road.handles[name],
                          value=value)
            assert len(sent) == 1, (name, value, sent)
        # The webhook carries the true time of the visit, not the upload's.
        assert outbox(road.db, road.account_id, order_handle=road.handles[name],
                      value="arrived")[0]["recorded_at"] == order["arrived_at"]
    resent = road.upload(*to_p, now=now + timedelta(seconds=5))
    assert resent["duplicates"] == len(to_p)
    assert len(outbox(road.db, road.account_id, order_handle=road.handles["P"],
                      value="arrived")) == 1
