"""Store first, process right after: an upload is answered once its fixes are stored; the
tracking processor runs them through the route's pipeline exactly once, whatever fails."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.position_inbox import PositionInbox, waiting_fixes
from routekeeper.models.route import Route
from routekeeper.settings import LimitSettings, RateRule, Settings
from routekeeper.tracking import apply, processor, repository, tasks
from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.processor import Batch, process_device, process_pending
from routekeeper.tracking.routestate import StoredState
from tests.conftest import Tenant
from tests.processing import drain

from .api_helpers import (
    Road,
    TrackClock,
    basic,
    bearer,
    check,
    location,
    make_road,
    outbox,
    register,
    route_state,
    run_job,
    stored_positions,
)
from .simulate import FakeTravel


@pytest.fixture
def road(api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock,
         travel: FakeTravel) -> Road:
    """A fresh two-stop road for one test, with no fix of earlier tests left waiting (the
    counts of processed fixes below are exact)."""
    drain(api)
    return make_road(api, db, tenant, track_clock)


def _post(road: Road, *fixes: Any) -> dict[str, Any]:
    """Upload without the helper's drain: only what the request itself does."""
    road.clock.now = max(f.recorded_at for f in fixes) + timedelta(seconds=2)
    response = road.device.post("/devices/phone/locations", headers=bearer(road.key),
                                json={"locations": [location(f) for f in fixes]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _waiting(db: Database, account_id: str) -> int:
    with db.read() as session:
        return int(session.scalar(select(waiting_fixes())
                                  .where(PositionInbox.account_id == account_id)) or 0)


def _arrivals(road: Road) -> int:
    return len(outbox(road.db, road.account_id, order_handle=road.handles["P"], value="arrived"))


def test_an_upload_is_stored_and_queued_and_processed_once(road: Road) -> None:
    """The answer counts the stored fixes and names the route they are queued for; nothing
    of the route moved yet; one processing round applies them; another changes nothing."""
    fixes = road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000)
    result = _post(road, *fixes)
    assert result["accepted"] == len(fixes) and result["duplicates"] == 0
    assert result["route_handles"] == [road.route_handle]
    assert stored_positions(road.db, road.account_id, "phone") == len(fixes)
    assert _waiting(road.db, road.account_id) == len(fixes)
    assert road.order("P")["arrived_at"] is None and _arrivals(road) == 0

    assert drain(road.api) == len(fixes)
    assert _waiting(road.db, road.account_id) == 0
    assert road.order("P")["arrived_at"] is not None and _arrivals(road) == 1
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.track_state is not None
        state = route.track_state
    assert drain(road.api) == 0
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.track_state == state

    # The same upload again: all duplicates, nothing queued, nothing processed.
    again = _post(road, *fixes)
    assert again["duplicates"] == len(fixes) and again["route_handles"] == []
    assert _waiting(road.db, road.account_id) == 0 and drain(road.api) == 0
    assert _arrivals(road) == 1


def _queued(road: Road) -> list[list[Fix]]:
    """The fixes of each parcel waiting for the road's phone, oldest parcel first (read by
    the processor's own take, in a transaction that is rolled back)."""
    with road.db.write() as session:
        taken = repository.take_pending(session, [(road.account_id, "phone")], 10_000)
        session.rollback()
    return [parcel.fixes for parcel in taken.get((road.account_id, "phone"), [])]


def test_a_parcel_holds_only_the_fixes_its_upload_newly_stored_exactly(road: Road) -> None:
    """An upload is queued as one parcel with every value as sent; an upload that repeats
    some stored fixes queues only the new ones (on PostgreSQL the database builds that
    parcel), and each is processed once."""
    first = [replace(fix, lon=fix.lon + 1e-13, accuracy_m=4.700000000000001,
                     speed_mps=0.30000000000000004, altitude_m=-12.345678901234567,
                     battery_percent=99.9, recorded_at=fix.recorded_at
                     + timedelta(milliseconds=7))
             for fix in road.drive(0, 60, 0, 600)]
    assert _post(road, *first)["duplicates"] == 0
    assert _queued(road) == [first]
    assert drain(road.api) == len(first)

    later = road.drive(70, 120, 700, 1000)
    result = _post(road, *first[-3:], *later)
    assert result["duplicates"] == 3 and result["accepted"] == 3 + len(later)
    assert _queued(road) == [later]
    assert _waiting(road.db, road.account_id) == len(later)
    assert drain(road.api) == len(later) and drain(road.api) == 0


def test_two_devices_of_a_worker_in_one_group_feed_their_route_once_each(road: Road) -> None:
    """A worker's phone and tablet both report before the processor runs, so one group feeds
    the route twice: the second feed sees what the first wrote (the arrival at P is not found
    again), and the drive's visits come out as if one device had sent it all."""
    tablet_key = register(road.api, "tablet", "driver")
    phone = road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000)
    tablet = road.drive(180, 240, 1000, 1000) + road.drive(250, 350, 1000, 1800)
    _post(road, *phone)
    road.clock.now = tablet[-1].recorded_at + timedelta(seconds=2)
    response = road.device.post("/devices/tablet/locations", headers=bearer(tablet_key),
                                json={"locations": [location(f) for f in tablet]})
    assert response.status_code == 200, response.text
    assert _waiting(road.db, road.account_id) == len(phone) + len(tablet)

    assert drain(road.api) == len(phone) + len(tablet)
    p = road.order("P")
    assert p["arrived_at"] is not None and p["exited_at"] is not None
    assert _arrivals(road) == 1
    assert len(outbox(road.db, road.account_id, order_handle=road.handles["P"],
                      value="exited")) == 1
    # The tablet, reporting last, took the route (device_switch_mode "login").
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.device_id == "tablet"
        assert route.track_state is not None
        assert route.track_state["devices"] == ["phone", "tablet"]


def test_one_group_feeds_each_account_s_routes_only_their_own_device_s_fixes(
        road: Road, other_tenant: Tenant, db: Database, track_clock: TrackClock) -> None:
    """Device ids and worker handles are per account: with account A's "phone" of worker
    "driver" and account B's, both waiting, one group takes both devices, and each route is
    fed its own device's fixes alone (A's arrives at P, B's is still on its way)."""
    other = make_road(other_tenant.client, db, other_tenant, track_clock, prefix="o")
    theirs = other.drive(0, 60, 0, 500)
    mine = road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000)
    _post(other, *theirs)
    _post(road, *mine)

    assert drain(road.api) == len(mine) + len(theirs)
    assert road.order("P")["arrived_at"] is not None
    assert other.order("P")["arrived_at"] is None
    assert route_state(db, road.account_id, road.route_handle).pipeline.fixes_accepted \
        == len(mine)
    assert route_state(db, other.account_id, other.route_handle).pipeline.fixes_accepted \
        == len(theirs)


def test_a_batch_that_fails_is_rolled_back_and_processed_once_later(
    road: Road, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A processor that dies while writing a batch's outcome (after the arrival's timeline and
    webhook were written in its transaction) leaves the fixes in the inbox and nothing else;
    the next round processes them, and the stop arrives exactly once."""
    fixes = road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000)
    _post(road, *fixes)
    real = apply._route_actuals

    def crash(*args: Any) -> None:
        real(*args)
        raise RuntimeError("killed mid-batch")

    monkeypatch.setattr(apply, "_route_actuals", crash)
    state = road.api.app.state
    assert process_pending(state.db, state.settings, state.travel) == 0
    assert _waiting(road.db, road.account_id) == len(fixes)
    assert road.order("P")["arrived_at"] is None and _arrivals(road) == 0

    monkeypatch.setattr(apply, "_route_actuals", real)
    assert drain(road.api) == len(fixes)
    assert road.order("P")["arrived_at"] is not None and _arrivals(road) == 1
    timeline = [e["type"] for e in road.order("P")["timeline"]]
    assert timeline.count("order_geofence_entered") == 1


def test_fixes_of_a_device_without_a_tracking_route_leave_the_inbox(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    """Stored, counted as processed, and gone from the inbox: nothing to apply them to."""
    drain(api)
    road = make_road(api, db, tenant, track_clock)
    response = api.post(f"/orders/routes/{road.route_handle}/complete")
    assert response.status_code == 200, response.text
    result = _post(road, *road.drive(0, 50, 0, 500))
    assert result["route_handles"] == []
    assert drain(api) == 6 and _waiting(db, tenant.account_id) == 0


def test_a_rotated_or_deleted_key_is_refused_at_once_though_cached(road: Road) -> None:
    """The key cache remembers devices, but every upload checks the key against the row."""
    first = road.fix(0, 0)
    _post(road, first)  # the key is cached now
    rotated = road.api.post("/devices/phone/rotate-key")
    assert rotated.status_code == 200, rotated.text
    response = road.device.post("/devices/phone/locations", headers=bearer(road.key),
                                json={"locations": [location(road.fix(5, 50))]})
    assert response.status_code == 401, response.text
    osmand = road.device.get("/osmand", params={"id": road.key, "lat": "52.5", "lon": "13.4"})
    assert osmand.status_code == 401, osmand.text

    new_key = rotated.json()["ingest_key"]
    road.key = new_key
    _post(road, road.fix(10, 100))
    assert road.api.delete("/devices/phone").status_code == 204
    response = road.device.post("/devices/phone/locations", headers=bearer(new_key),
                                json={"locations": [location(road.fix(15, 150))]})
    assert response.status_code == 401, response.text
    assert stored_positions(road.db, road.account_id, "phone") == 2


def test_a_device_claimed_by_another_processor_is_skipped(road: Road, db: Database) -> None:
    """Two processors never take one device's fixes at once: while one holds the claim, the
    other passes the device over (PostgreSQL; SQLite has one writer at a time)."""
    if db.dialect != "postgresql":
        pytest.skip("advisory claims are PostgreSQL's; SQLite serialises writers")
    _post(road, *road.drive(0, 50, 0, 500))
    with db.write() as holder:
        assert repository.try_lock_device(holder, road.account_id, "phone")
        state = road.api.app.state
        assert processor.process_device(state.db, state.settings, state.travel,
                                        road.account_id, "phone") is None
    assert _waiting(db, road.account_id) == 6
    assert drain(road.api) == 6


def test_a_flooding_device_gets_429_and_the_others_do_not(
    settings: Settings, tenant: Tenant, db: Database
) -> None:
    """Past its burst, one device's uploads are refused with 429 and Retry-After, on every
    protocol, and nothing of them is stored; another device of the same account still
    uploads."""
    limits = LimitSettings(
        requests={**{name: RateRule(per_s=10_000.0, burst=100_000)
                     for name in LimitSettings().requests},
                  "device": RateRule(per_s=0.2, burst=3)},
        failures_per_address=RateRule(per_s=10_000.0, burst=100_000),
        failures_per_account=RateRule(per_s=10_000.0, burst=100_000))
    app = create_app(settings.model_copy(update={"limits": limits}), run_worker=False)
    api = TestClient(app, raise_server_exceptions=False)
    api.auth = (tenant.account_id, tenant.secret_key)
    assert api.post("/workers/", json={"worker_handle": "flood"}).status_code in (200, 201)
    keys = {name: api.post("/devices/", json={"device_id": name, "worker_handle": "flood"})
            .json()["ingest_key"] for name in ("flooder", "quiet")}
    device = TestClient(app, raise_server_exceptions=False)
    start = datetime.now(UTC) - timedelta(minutes=5)

    def fix(i: int) -> dict[str, str]:
        return {"id": keys["flooder"], "lat": "52.5", "lon": f"{13.4 + i * 1e-5:.6f}",
                "timestamp": str(int((start + timedelta(seconds=i)).timestamp()))}

    answers = [device.get("/osmand", params=fix(i)) for i in range(8)]
    assert [a.status_code for a in answers[:3]] == [200] * 3
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) >= 4
    assert int(refused[-1].headers["Retry-After"]) >= 1
    assert refused[-1].json()["code"] == "rate_limited"
    owntracks = device.post("/owntracks", json={"_type": "location", "lat": 52.5, "lon": 13.5,
                                                "tst": int(start.timestamp()) + 100},
                            headers=basic("flooder", keys["flooder"]))
    assert owntracks.status_code == 429
    assert stored_positions(db, tenant.account_id, "flooder") == 8 - len(refused)
    quiet = device.post("/devices/quiet/locations", headers=bearer(keys["quiet"]),
                        json={"locations": [location(Fix(start, 13.4, 52.5))]})
    assert quiet.status_code == 200, quiet.text
    assert drain(app) >= 8 - len(refused) + 1 and _waiting(db, tenant.account_id) == 0


def test_a_backlog_is_visible_in_health_and_metrics_and_uploads_still_go_in(
    road: Road, settings: Settings, anon: TestClient, db: Database
) -> None:
    """Fixes waiting longer than ``tracking.lag_threshold_s``: /health/ready says ``behind``
    (still 200: uploads are taken), /metrics shows the backlog and its age, and one round
    catches the device up in a single batch."""
    first = road.drive(0, 100, 0, 1000)
    _post(road, *first)
    with db.write() as session:  # the processor has been away for a minute
        session.execute(update(PositionInbox)
                        .where(PositionInbox.account_id == road.account_id)
                        .values(received_at=datetime.now(UTC) - timedelta(seconds=60)))
    second = road.drive(110, 170, 1000, 1000)
    assert _post(road, *second)["accepted"] == len(second)
    ready = anon.get("/health/ready")
    assert ready.status_code == 200, ready.text
    tracking = ready.json()["checks"]["tracking"]
    assert tracking["status"] == "behind"
    waiting = int(tracking["detail"].split(" fix(es) waiting")[0])
    assert waiting >= len(first) + len(second) == _waiting(db, road.account_id)
    metrics_app = create_app(settings.model_copy(update={
        "metrics": settings.metrics.model_copy(update={"token": "t0k"})}), run_worker=False)
    scraped = TestClient(metrics_app).get("/metrics", headers={"Authorization": "Bearer t0k"})
    assert scraped.status_code == 200
    backlog = re.search(r"^routekeeper_tracking_backlog_fixes (\S+)$", scraped.text, re.M)
    age = re.search(r"^routekeeper_tracking_backlog_age_seconds (\S+)$", scraped.text, re.M)
    assert backlog and age
    assert float(backlog.group(1)) >= len(first) + len(second) and float(age.group(1)) >= 59

    state = road.api.app.state
    assert process_device(state.db, state.settings, state.travel, road.account_id,
                          "phone") == Batch(len(first) + len(second), [road.route_handle])
    assert _waiting(db, road.account_id) == 0 and _arrivals(road) == 1
    drain(anon)
    assert anon.get("/health/ready").json()["checks"]["tracking"]["status"] == "ok"


def test_an_upload_takes_one_pool_connection_with_the_device_limit_on(
    settings: Settings, tenant: Tenant, db: Database
) -> None:
    """The device limit's bucket is charged in the upload's own transaction (PostgreSQL keeps
    buckets in the database): an upload never holds one pooled connection while waiting for
    another, which under load had every request waiting on the pool (500s after 30 s)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite installs keep buckets in memory")
    app = create_app(settings.model_copy(update={
        "database": settings.database.model_copy(update={"pool_size": 1})}), run_worker=False)
    api = TestClient(app, raise_server_exceptions=False)
    api.auth = (tenant.account_id, tenant.secret_key)
    assert api.post("/workers/", json={"worker_handle": "pooled"}).status_code in (200, 201)
    key = api.post("/devices/", json={"device_id": "pooled", "worker_handle": "pooled"}
                   ).json()["ingest_key"]
    engine = app.state.db.engine
    engine.pool._timeout = 2.0  # fail fast instead of after 30 s
    with engine.connect():  # one of the pool's two connections is busy elsewhere
        response = TestClient(app, raise_server_exceptions=False).post(
            "/devices/pooled/locations", headers=bearer(key),
            json={"locations": [location(Fix(datetime.now(UTC), 13.4, 52.5))]})
    assert response.status_code == 200, response.text


def test_devices_are_processed_in_groups_and_a_broken_one_waits_alone(
    api: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant,
    track_clock: TrackClock, travel: FakeTravel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two devices with waiting fixes are processed in one transaction (one group); when one
    of them breaks its group, the group is taken again device by device: the healthy device's
    stop arrives, the broken one's fixes stay in the inbox for the next round."""
    drain(api)
    healthy = make_road(api, db, tenant, track_clock)
    broken = make_road(other_tenant.client, db, other_tenant, track_clock)
    sent = 0
    for road in (healthy, broken):
        fixes = road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000)
        sent = len(fixes)
        _post(road, *fixes)
    groups: list[list[tuple[str, str]]] = []
    real_group = processor._process_group

    def recorded(session: Any, settings: Any, travel: Any, devices: Any, *rest: Any) -> Any:
        groups.append(list(devices))
        return real_group(session, settings, travel, devices, *rest)

    real_actuals = apply._route_actuals

    def crash_broken(route: Route, state: Any) -> None:
        real_actuals(route, state)
        if route.account_id == broken.account_id:
            raise RuntimeError("this route's write-back fails")

    monkeypatch.setattr(processor, "_process_group", recorded)
    monkeypatch.setattr(apply, "_route_actuals", crash_broken)
    state = api.app.state
    processed = process_pending(state.db, state.settings, state.travel)
    both = {(healthy.account_id, "phone"), (broken.account_id, "phone")}
    assert set(groups[0]) == both  # first together, then one by one
    assert sorted(map(len, groups)) == [1, 1, 2]
    assert processed == sent and _waiting(db, broken.account_id) == sent
    assert _waiting(db, healthy.account_id) == 0 and _arrivals(healthy) == 1
    assert _arrivals(broken) == 0


def _tag(road: Road) -> int | None:
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None
        return route.track_state_tag


def test_the_periodic_job_leaves_a_route_with_fresh_waiting_fixes_to_the_processor(
        road: Road, settings: Settings) -> None:
    """A route whose fixes wait in the inbox is about to be evaluated by the processor: the
    periodic job passes it over instead of taking its lock, until the oldest has waited so
    long that the processor must have stopped. A state the job stored is kept decoded for
    the processor."""
    road.upload(*road.drive(0, 60, 0, 500))
    # The job's first round in the route's polyline slot: the polyline is extended then and
    # is not due again for a whole POLYLINE_EVERY, so below only the waiting fix decides.
    # (A round before the slot left the polyline to fall due in the middle of the test, in
    # about a third of the runs, depending on the wall clock.)
    road.clock.now = tasks.polyline_due_at(road.started_at,
                                           tasks.polyline_slot(road.route_handle))
    run_job(road.db, settings)
    before = _tag(road)
    # A minute later: not evaluated for a minute, but a fix of this instant waits.
    _post(road, road.fix((road.clock.now - road.started_at).total_seconds() + 60, 900))
    run_job(road.db, settings)
    assert _tag(road) == before and _waiting(road.db, road.account_id) == 1

    # The processor is a minute behind: the route is still left to it.
    road.clock.now += timedelta(seconds=60)
    run_job(road.db, settings)
    assert _tag(road) == before
    # The fix waited so long that the processor must have stopped: the job checks the route.
    road.clock.now += tasks.WAITING_HOLDS_FOR - timedelta(seconds=60)
    run_job(road.db, settings)
    after = _tag(road)
    assert after != before
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None
        kept = processor.RESIDENT.get(route)
    assert kept is not None and kept.pipeline.evaluated_at == road.clock.now
    # The fix is processed once, on the state the job stored.
    assert drain(road.api) == 1
    assert road.order("P")["arrived_at"] is None


def _polyline_at(road: Road) -> datetime | None:
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.track_state is not None
        return codec.load(StoredState, route.track_state).polyline_at


def test_at_its_turn_the_job_passes_over_a_route_evaluated_since_the_round_began(
        road: Road, settings: Settings) -> None:
    """A round lists its due routes when it begins; by a route's turn the processor may have
    evaluated it. Then the job leaves it alone (nothing written), unless its polyline's slot
    has come; a route not evaluated lately is checked without extending its polyline outside
    its slot."""
    road.upload(*road.drive(0, 60, 0, 500))
    check(road.db, settings, road.account_id, road.route_handle)  # polyline drawn
    drawn_at = _polyline_at(road)
    assert drawn_at == road.clock.now
    # Its slot is two and a half minutes away or more.
    due_at = tasks.polyline_due_at(drawn_at, tasks.polyline_slot(road.route_handle))

    def check_at_turn() -> bool:
        with road.db.write() as session:
            checked = tasks.check_route(session, settings, road.account_id, road.route_handle,
                                        now=road.clock.now, in_slot=True)
        return checked is not None

    road.upload(road.fix(100, 700))  # processed: evaluated just now
    before = _tag(road)
    assert not check_at_turn() and _tag(road) == before
    # Not evaluated lately: checked (offline risks, delays), the polyline left for its slot.
    road.clock.now += tasks.RECENTLY_EVALUATED
    assert check_at_turn() and _tag(road) != before
    assert _polyline_at(road) == drawn_at
    # Its slot came: extended, however recently the route was evaluated.
    road.clock.now = due_at
    road.upload(road.fix((road.clock.now - road.started_at).total_seconds() - 2, 900))
    assert check_at_turn() and _polyline_at(road) == road.clock.now


def test_the_job_checks_routes_in_groups_and_a_broken_one_alone(
    api: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant,
    track_clock: TrackClock, travel: FakeTravel, settings: Settings,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job checks its due routes in groups, one transaction each; a route whose check
    fails is tried again alone, and the others of its group are checked all the same."""
    drain(api)
    healthy = make_road(api, db, tenant, track_clock)
    broken = make_road(other_tenant.client, db, other_tenant, track_clock)
    for road in (healthy, broken):
        road.upload(*road.drive(0, 60, 0, 500))
    before = {road.account_id: _tag(road) for road in (healthy, broken)}
    groups: list[list[tuple[str, str]]] = []
    real_check = tasks.check_routes

    def recorded(session: Any, settings: Settings, keys: Any, **kwargs: Any) -> Any:
        groups.append(list(keys))
        return real_check(session, settings, keys, **kwargs)

    real_offline = tasks.check_offline
    with db.read() as session:
        broken_orders = set(session.scalars(select(Order.id).where(
            Order.account_id == broken.account_id)))

    def crash_broken(state: Any, now: datetime, settings: Any) -> Any:
        if any(track.key in broken_orders for track in state.orders):
            raise RuntimeError("this route's check fails")
        return real_offline(state, now, settings)

    monkeypatch.setattr(tasks, "check_routes", recorded)
    monkeypatch.setattr(tasks, "check_offline", crash_broken)
    track_clock.now += timedelta(minutes=1)  # neither evaluated lately
    assert run_job(db, settings) >= 2
    ours = {(healthy.account_id, healthy.route_handle), (broken.account_id, broken.route_handle)}
    together = [group for group in groups if ours <= set(group)]
    alone = [group for group in groups if len(group) == 1 and set(group) <= ours]
    assert len(together) == 1 and sorted(alone) == sorted([[key] for key in ours])
    assert _tag(healthy) != before[healthy.account_id]
    assert _tag(broken) == before[broken.account_id]
