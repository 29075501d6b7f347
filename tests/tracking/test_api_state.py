"""The database-facing pieces of tracking: plan sync with route changes, estimate writes,
polylines, the periodic job's selection, the route completion hook, ETA throttling."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.settings import Settings, TrackingSettings
from routekeeper.tracking.apply import _new_estimate, _worth_writing
from routekeeper.tracking.completion import on_route_completed
from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import (
    OrderTrack,
    RouteTrackState,
    TrackedOrder,
    process_fixes,
)
from routekeeper.tracking.protocols import parse_timestamp
from routekeeper.tracking.routestate import StoredState
from routekeeper.tracking.tasks import (
    POLYLINE_EVERY,
    WAITING_HOLDS_FOR,
    _due,
    polyline_due_at,
    polyline_slot,
)
from tests.conftest import Tenant

from .api_helpers import Road, TrackClock, arrive_at_p, check, make_road, route_state
from .simulate import T0, FakeTravel, three_stop_drive


@pytest.fixture
def road(api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock,
         travel: FakeTravel) -> Road:
    """A fresh two-stop road for one test."""
    return make_road(api, db, tenant, track_clock)


def stored(road: Road) -> StoredState:
    """The route's stored tracking state."""
    return route_state(road.db, road.account_id, road.route_handle)


def order_id(road: Road, name: str) -> str:
    """The id of stop ``name``."""
    with road.db.read() as session:
        return str(session.scalars(select(Order.id).where(
            Order.account_id == road.account_id,
            Order.order_handle == road.handles[name])).one())


def test_the_plan_follows_disabling_resequencing_and_schedule_changes(road: Road) -> None:
    """A disabled order leaves the plan, a new window reaches it, progress is kept by id."""
    road.upload(*road.drive(0, 60, 0, 600))
    p, q = order_id(road, "P"), order_id(road, "Q")
    assert [t.key for t in stored(road).pipeline.orders] == [p, q]
    first_eta = stored(road).pipeline.order(p).initial_eta_at
    assert road.api.post(f"/orders/{road.handles['Q']}/disable").status_code == 200
    road.upload(road.fix(70, 700))
    assert [t.key for t in stored(road).pipeline.orders] == [p]
    later = ts_in(road, 7200)
    response = road.api.patch(f"/orders/{road.handles['P']}", json={"scheduled_at": later})
    assert response.status_code == 200, response.text
    road.upload(road.fix(80, 800))
    track = stored(road).pipeline.order(p)
    assert track.order.scheduled_at == road.started_at + timedelta(seconds=7200)
    assert track.initial_eta_at == first_eta
    assert road.api.post(f"/orders/{road.handles['Q']}/enable").status_code == 200
    road.upload(road.fix(90, 900))
    assert [t.key for t in stored(road).pipeline.orders] == [p, q]


def ts_in(road: Road, seconds: float) -> str:
    """An API timestamp ``seconds`` after the road's start."""
    return (road.started_at + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_estimates_are_rewritten_only_when_they_moved() -> None:
    """Small moves keep the stored estimate; a past ETA, a big move or a new one rewrite it."""
    now = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)

    def estimate(eta_s: float, distance_m: int) -> dict[str, Any]:
        at = (now + timedelta(seconds=eta_s)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"arrive_at": at, "initial_arrive_at": "x", "remaining_distance": distance_m}

    old = estimate(600, 5000)
    assert not _worth_writing(old, estimate(610, 4980), now, next_order=True)
    assert _worth_writing(old, estimate(640, 5000), now, next_order=True)
    assert _worth_writing(old, estimate(600, 4900), now, next_order=True)
    assert not _worth_writing(old, estimate(600, 4900), now, next_order=False)
    assert _worth_writing(old, estimate(600, 4400), now, next_order=False)
    assert _worth_writing(estimate(-5, 100), estimate(3, 100), now, next_order=True)
    assert _worth_writing(None, old, now, next_order=False)


_SOMEWHERE = Geofence.from_destination({"geometry": {"type": "Point",
                                                     "coordinates": [24.94, 60.17]}})


@given(eta_us=st.integers(-120_000_000, 3_600_000_000), distance_m=st.floats(0, 20_000),
       stored_later_ms=st.one_of(st.none(), st.integers(-40_000, 40_000)),
       stored_more_m=st.integers(-3_000, 3_000), same_initial=st.booleans(),
       next_order=st.booleans())
def test_an_estimate_is_rendered_only_when_it_is_worth_writing(
        eta_us: int, distance_m: float, stored_later_ms: int | None, stored_more_m: int,
        same_initial: bool, next_order: bool) -> None:
    """The estimate decided on the ETA's own values is the one the rule over the rendered
    estimates would write: the same estimate, or none where the rule keeps the stored one."""
    now = datetime(2024, 5, 6, 8, 0, 0, 123_456, tzinfo=UTC)
    fix = Fix(lat=60.17, lon=24.94, recorded_at=now - timedelta(seconds=3))
    initial = now + timedelta(seconds=600)
    track = OrderTrack(order=TrackedOrder(order_key="o", geofence=_SOMEWHERE),
                       initial_eta_at=initial, eta_at=now + timedelta(microseconds=eta_us),
                       remaining_distance_m=distance_m, remaining_duration_s=eta_us / 1e6)
    rendered = _new_estimate(None, track, fix, now, next_order=next_order)
    assert rendered is not None
    stored_estimate = None
    if stored_later_ms is not None:
        # Stored values near the new ones: where the rule's slack decides.
        stored_at = (datetime.fromisoformat(rendered["arrive_at"])
                     + timedelta(milliseconds=stored_later_ms))
        stored_estimate = {
            "arrive_at": stored_at.isoformat(timespec="milliseconds")[:-6] + "Z",
            "initial_arrive_at": rendered["initial_arrive_at"] if same_initial else "earlier",
            "remaining_distance": max(0, rendered["remaining_distance"] + stored_more_m)}
    decided = _new_estimate(stored_estimate, track, fix, now, next_order=next_order)
    if _worth_writing(stored_estimate, rendered, now, next_order=next_order):
        assert decided == rendered
    else:
        assert decided is None


def test_polylines_grow_incrementally_and_rebuild_the_same(road: Road, settings: Settings
                                                            ) -> None:
    """Two periodic refreshes give the same polyline as one full rebuild; dense fixes are
    thinned to one a second."""
    road.upload(*road.drive(0, 40, 0, 400, step_s=0.25))
    check(road.db, settings, road.account_id, road.route_handle)
    road.upload(*road.drive(45, 90, 450, 900, step_s=5.0))
    check(road.db, settings, road.account_id, road.route_handle)
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.polyline is not None
        incremental = route.polyline["coordinates"]
    times = [datetime.fromisoformat(p[3]) for p in incremental]
    assert all((b - a).total_seconds() >= 1.0 for a, b in pairwise(times))
    assert len(incremental) == 41 + 10
    with road.db.write() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.track_state is not None
        state = codec.load(StoredState, route.track_state)
        state.polyline_until = None
        route.track_state = codec.dump(state)
    check(road.db, settings, road.account_id, road.route_handle)
    with road.db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None and route.polyline is not None
        assert route.polyline["coordinates"] == incremental


def test_the_job_passes_over_routes_an_upload_just_evaluated() -> None:
    """Due: never evaluated, evaluated a while ago, or a polyline whose slot in the five
    minutes came at least 2.5 minutes after it was extended (slot 0: on the hour, every five
    minutes); not while a fix of this instant waits for the processor."""
    now = datetime(2024, 5, 6, 8, 2, tzinfo=UTC)
    started = now - timedelta(minutes=1)
    # As the state stores them: ISO-8601 text with an offset.
    just = (now - timedelta(seconds=5)).isoformat()
    old = (now - timedelta(minutes=2)).isoformat()
    assert _due(started, None, None, now)
    assert not _due(None, None, None, now)  # not started: nothing for the clock
    assert not _due(started, just, None, now)
    assert _due(started, old, None, now)
    assert _due(now - timedelta(minutes=6), just, None, now)
    assert not _due(now - timedelta(minutes=6), just, just, now)
    assert _due(started, just, (now - timedelta(minutes=6)).isoformat(), now)
    # A fix waiting for the processor holds a route back, unless it has waited long (the
    # processor is stopped) or the polyline is due. A backlog of a minute still holds it.
    waiting = now - timedelta(seconds=3)
    assert not _due(started, old, None, now, waiting)
    assert not _due(started, None, None, now, waiting)
    assert not _due(started, old, None, now, now - timedelta(seconds=60))
    assert _due(started, old, None, now, now - WAITING_HOLDS_FOR)
    assert _due(now - timedelta(minutes=6), old, None, now, waiting)


def test_routes_refreshed_together_come_due_for_their_polylines_spread_out() -> None:
    """The job's first round after a fleet starts checks every route at once; their next
    polylines fall due over one POLYLINE_EVERY (each route in a slot fixed by its handle),
    not all in one round, and then every POLYLINE_EVERY in that slot."""
    started = datetime(2024, 5, 6, 8, 0, 10, tzinfo=UTC)
    refreshed = started + timedelta(seconds=20)
    handles = [f"route-{index}" for index in range(1000)]
    slots = {handle: polyline_slot(handle) for handle in handles}
    assert all(timedelta(0) <= slot < POLYLINE_EVERY for slot in slots.values())
    assert slots == {handle: polyline_slot(handle) for handle in handles}  # stable
    # Evaluated just before each round: only the polyline can make a route due.
    rounds = [refreshed + timedelta(seconds=30 * k) for k in range(1, 17)]
    first_due = {handle: next(at for at in rounds if _due(
        started, (at - timedelta(seconds=1)).isoformat(), refreshed.isoformat(), at, None,
        slots[handle])) for handle in handles}
    per_round = Counter(first_due.values())
    # Ten rounds of 30 s in five minutes: each takes about a tenth of the routes.
    assert len(per_round) >= 10
    assert max(per_round.values()) < 200
    for handle in handles[:50]:
        due = polyline_due_at(refreshed, slots[handle])
        # Never sooner than half the period after a refresh, within one period from there.
        assert refreshed + POLYLINE_EVERY / 2 <= due < refreshed + POLYLINE_EVERY * 3 / 2
        # Refreshed in that round, a route is next due POLYLINE_EVERY after its slot.
        assert polyline_due_at(first_due[handle], slots[handle]) == due + POLYLINE_EVERY


@given(since=st.floats(min_value=0.0, max_value=20 * 365 * 86400.0),
       share=st.floats(min_value=0.0, max_value=0.999))
def test_a_polyline_is_due_in_its_slot_half_a_period_to_a_period_and_a_half_later(
        since: float, share: float) -> None:
    refreshed = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=since)
    slot = POLYLINE_EVERY * share
    due = polyline_due_at(refreshed, slot)
    assert refreshed + POLYLINE_EVERY / 2 <= due < refreshed + POLYLINE_EVERY * 3 / 2
    into_cycle = (due.timestamp() - slot.total_seconds()) % POLYLINE_EVERY.total_seconds()
    assert min(into_cycle, POLYLINE_EVERY.total_seconds() - into_cycle) < 1e-3
    assert polyline_due_at(due, slot) == due + POLYLINE_EVERY


def test_route_completion_hook_finalizes_actuals(road: Road, settings: Settings) -> None:
    """The hook closes finished orders, draws the whole polyline and measures coverage up to
    completion, once."""
    arrive_at_p(road)
    with road.db.write() as session:
        session.execute(update(Order).where(Order.account_id == road.account_id)
                        .values(status="cancelled",
                                cancelled_at=road.started_at + timedelta(seconds=200)))
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None
        route.status = "completed"
        route.completed_at = road.started_at + timedelta(seconds=600)
        on_route_completed(session, route, settings=settings.tracking)
        assert route.polyline is not None and len(route.polyline["coordinates"]) == 18
        # Nothing was seen for the last 430 s of the route's 600.
        assert route.tracking_rate == pytest.approx(170 / 600, abs=0.01)
    final = stored(road)
    assert final.finalized
    assert all(t.closed_at is not None for t in final.pipeline.orders)
    p = road.order("P")
    # Cancelled 30 s after the last fix, which was at P.
    assert p["cancelled_at_destination"] is True and p["visited_destination"] is True
    assert road.order("Q")["cancelled_at_destination"] is False


def test_etas_can_be_throttled_for_fix_by_fix_uploads() -> None:
    """With eta_every_s, single-fix batches re-evaluate ETAs at most that often, but an arrival
    re-evaluates at once and the visits are the same."""
    drive = three_stop_drive(3)
    fixes = sorted({f.recorded_at: f for f in drive.fixes}.values(), key=lambda f: f.recorded_at)
    settings = TrackingSettings()
    runs: dict[float, tuple[RouteTrackState, int]] = {}
    for every_s in (0.0, 60.0):
        travel = FakeTravel()
        state = RouteTrackState.start(drive.orders, started_at=T0)
        for fix in fixes:
            state, _ = process_fixes(state, [fix], now=fix.recorded_at + timedelta(seconds=1),
                                     travel=travel, settings=settings, eta_every_s=every_s)
        runs[every_s] = (state, travel.matrix_calls)
    (plain, plain_calls), (throttled, throttled_calls) = runs[0.0], runs[60.0]
    assert throttled_calls < plain_calls / 5
    for a, b in zip(plain.orders, throttled.orders, strict=True):
        assert (a.visit.arrived_at, a.visit.exited_at) == (b.visit.arrived_at, b.visit.exited_at)
        assert b.initial_eta_at is not None


@pytest.mark.parametrize(("text", "expected"), [
    ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("1700000000123", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
    ("1700000000.5", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
    ("2023-11-14T22:13:20Z", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("2023-11-15T00:13:20+02:00", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("2023-11-14 22:13:20", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
])
def test_osmand_timestamps(text: str, expected: datetime) -> None:
    """Every timestamp form Traccar accepts reads as the same instant."""
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["soon", "nan", "inf", "", "2023-13-01T00:00:00Z"])
def test_bad_osmand_timestamps(text: str) -> None:
    """Anything else is refused with a message, never a crash."""
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(text)


def test_fix_rows_round_trip_through_the_state() -> None:
    """A stored state reads back equal, the ETA throttle's clock included."""
    drive = three_stop_drive(1)
    state = RouteTrackState.start(drive.orders, started_at=T0)
    state, _ = process_fixes(state, drive.fixes[:50], now=drive.fixes[49].recorded_at,
                             travel=FakeTravel(), settings=TrackingSettings(), eta_every_s=30)
    wrapped = StoredState(pipeline=state, devices=["a"], polyline_until=T0, polyline_at=T0)
    assert codec.load(StoredState, codec.dump(wrapped)) == wrapped
    assert state.etas_evaluated_at is not None
    assert isinstance(drive.fixes[0], Fix)
