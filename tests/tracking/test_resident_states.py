"""Route states kept decoded by the processor: used only while the row still carries the tag
they were stored with, so another writer's state is never overlooked; and each processor
takes its own process's devices first."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.route import Route
from routekeeper.settings import Settings, TrackingSettings
from routekeeper.tracking import processor
from routekeeper.tracking.engine.pipeline import RouteTrackState
from routekeeper.tracking.routestate import (
    TAIL_SECONDS,
    ResidentStates,
    StoredState,
    append_tail,
    load,
    route_key,
    store,
    tail_length,
    version,
)
from tests.conftest import Tenant

from .api_helpers import Road, TrackClock, check, make_road, outbox
from .simulate import FakeTravel

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)
SETTINGS = TrackingSettings()


def _route(handle: str = "route-1") -> Route:
    return Route(account_id="acct", route_handle=handle, status="tracking")


def _state(*devices: str) -> StoredState:
    return StoredState(pipeline=RouteTrackState.start([], started_at=T0), devices=list(devices))


def test_a_kept_state_serves_only_the_tag_it_was_stored_with() -> None:
    kept = ResidentStates(capacity=10)
    route = _route()
    tag = store(route, _state("phone"))
    kept.put(route_key(route), (tag, 0), _state("phone"))
    assert kept.has(route)
    served = load(route, [], now=T0, settings=SETTINGS, resident=kept)
    assert served.devices == ["phone"]

    # Another writer stored a different state: the row's tag moved on, the copy is not used.
    store(route, _state("phone", "tablet"))
    assert not kept.has(route)
    assert load(route, [], now=T0, settings=SETTINGS, resident=kept).devices == [
        "phone", "tablet"]
    # A row without a tag (written before tags existed) is always read from the row.
    route.track_state_tag = None
    assert not kept.has(route) and kept.get(route) is None


def test_a_kept_state_serves_only_the_tail_it_was_stored_with() -> None:
    """A batch another process appended to the row's tail is not in this copy: it is not
    served."""
    kept = ResidentStates(capacity=10)
    route = _route()
    store(route, _state("phone"))
    append_tail(route, [], T0)
    stored_version = version(route)
    assert stored_version is not None and stored_version[1] == 1
    kept.put(route_key(route), stored_version, _state("phone"))
    assert kept.has(route)
    append_tail(route, [], T0)
    assert not kept.has(route)


def test_kept_states_are_handed_out_as_copies_and_the_newest_are_kept() -> None:
    kept = ResidentStates(capacity=2)
    routes = [_route(f"route-{i}") for i in range(3)]
    for route in routes:
        kept.put(route_key(route), (store(route, _state("phone")), 0), _state("phone"))
    assert len(kept) == 2
    assert not kept.has(routes[0]) and kept.has(routes[1]) and kept.has(routes[2])
    copy = kept.get(routes[2])
    assert copy is not None
    copy.devices.append("tablet")
    again = kept.get(routes[2])
    assert again is not None and again.devices == ["phone"]
    assert again.pipeline is copy.pipeline  # immutable: shared, not rebuilt


def _row(db: Database, road: Road) -> Route:
    with db.read() as session:
        route = session.scalar(select(Route).where(Route.account_id == road.account_id,
                                                   Route.route_handle == road.route_handle))
        assert route is not None
        session.expunge(route)
        return route


def test_the_processor_keeps_what_it_stored_and_reads_what_others_wrote(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    road = make_road(api, db, tenant, track_clock)
    first = road.drive(0, 100, 0, 1000)
    road.upload(*first)
    route = _row(db, road)
    assert processor.RESIDENT.has(route)

    # Another writer (an order hook, the periodic job, another process) stores a state: here
    # one that names a second device. The next batch must build on it, not on the copy.
    with db.write() as session:
        row = session.get(Route, (road.account_id, road.route_handle))
        assert row is not None
        stored = load(row, [], now=T0, settings=SETTINGS)
        stored.devices.append("tablet")
        store(row, stored)
    assert not processor.RESIDENT.has(_row(db, road))

    second = road.drive(110, 170, 1000, 1000)
    road.upload(*second)
    route = _row(db, road)
    assert route.track_state is not None
    assert route.track_state["devices"] == ["phone", "tablet"]
    assert route.track_state["pipeline"]["fixes_accepted"] == len(first) + len(second)
    assert processor.RESIDENT.has(route)
    assert road.order("P")["arrived_at"] is not None


def test_a_processor_takes_its_own_devices_first_and_adopts_the_others_later(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs, stale = ("acct", "ours"), ("acct", "theirs"), ("acct", "stale")
    now = T0 + timedelta(seconds=10)
    waiting = [(stale, now - timedelta(seconds=5)), (theirs, now), (ours, now)]
    monkeypatch.setattr(processor, "_LOCAL", {})
    monkeypatch.setattr(processor, "_PROCESSING", threading.Event())
    # A process without processor threads (an API process) does not keep its devices.
    processor.wake([ours])
    assert not processor._LOCAL
    # A process that receives no uploads (a worker on its own) takes every device at once.
    assert processor._ours_first(waiting, 0.5, now) == [stale, theirs, ours]
    processor._PROCESSING.set()
    processor.wake([ours])
    # Its own first; another process's device once it has waited adopt_after_s.
    assert processor._ours_first(waiting, 0.5, now) == [ours, stale]
    assert processor._ours_first(waiting, 0.0, now) == [ours, stale, theirs]


def _tail(db: Database, road: Road) -> int:
    return tail_length(_row(db, road))


def test_quiet_batches_go_to_the_tail_and_another_process_replays_them(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fix by fix on the way to P, batches without an event or an order change grow the
    route's tail instead of rewriting its state. A process without the decoded copy (here: a
    fresh one) replays the tail, and the arrival at P still happens exactly once."""
    road = make_road(api, db, tenant, track_clock)
    road.upload(*road.drive(0, 30, 0, 300))  # the start: the first state written
    assert _tail(db, road) == 0
    tails = []
    for fix in road.drive(32, 98, 320, 980, step_s=2.0):
        road.upload(fix)
        tails.append(_tail(db, road))
    assert max(tails) >= 3, tails
    # Kept short: checkpointed within TAIL_SECONDS of its first batch.
    assert max(tails) <= TAIL_SECONDS / 2 + 1, tails
    road.upload(road.fix(99, 985))
    route = _row(db, road)
    assert route.track_state is not None and route.track_tail, tails
    assert processor.RESIDENT.has(route)
    replayed = load(route, [], now=T0, settings=SETTINGS)
    kept = processor.RESIDENT.get(route)
    assert kept is not None
    assert replayed.pipeline.last_fix == kept.pipeline.last_fix
    assert [t.visit for t in replayed.pipeline.orders] == [t.visit for t in kept.pipeline.orders]

    monkeypatch.setattr(processor, "RESIDENT", ResidentStates(capacity=0))
    for fix in road.drive(100, 170, 1000, 1000, step_s=2.0):
        road.upload(fix)
    assert road.order("P")["arrived_at"] is not None
    assert len(outbox(db, road.account_id, order_handle=road.handles["P"],
                      value="arrived")) == 1
    fed = _row(db, road)
    stored = load(fed, [], now=T0, settings=SETTINGS)
    assert stored.pipeline.fixes_accepted == 4 + 34 + 1 + 36


def test_the_job_and_the_hooks_build_on_the_tail(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel,
    settings: Settings
) -> None:
    """The periodic job writes the state with the tail in it (a checkpoint, the tail gone):
    nothing the tail held is lost or taken twice."""
    road = make_road(api, db, tenant, track_clock)
    road.upload(*road.drive(0, 30, 0, 300))
    sent = 4
    for fix in road.drive(32, 80, 320, 800, step_s=2.0):
        road.upload(fix)
        sent += 1
        if _tail(db, road) >= 2:
            break
    assert _tail(db, road) >= 2
    check(db, settings, road.account_id, road.route_handle)
    route = _row(db, road)
    assert tail_length(route) == 0 and route.track_state is not None
    assert route.track_state["pipeline"]["fixes_accepted"] == sent
    last = route.track_state["pipeline"]["last_fix"]["recorded_at"]
    assert datetime.fromisoformat(last) == road.fix(30 + 2 * (sent - 4), 0).recorded_at
    rest = [fix for fix in road.drive(32, 100, 320, 1000, step_s=2.0)
            if fix.recorded_at > datetime.fromisoformat(last)]
    for fix in rest + road.drive(102, 170, 1000, 1000):
        road.upload(fix)
    assert len(outbox(db, road.account_id, order_handle=road.handles["P"],
                      value="arrived")) == 1
    assert load(_row(db, road), [], now=T0, settings=SETTINGS).pipeline.fixes_accepted == \
        sent + len(rest) + 7
