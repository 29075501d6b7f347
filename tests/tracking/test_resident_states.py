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
from routekeeper.tracking import processor
from routekeeper.tracking.engine.pipeline import RouteTrackState
from routekeeper.tracking.routestate import ResidentStates, StoredState, load, route_key, store
from tests.conftest import Tenant

from .api_helpers import Road, TrackClock, make_road
from .simulate import FakeTravel

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)


def _route(handle: str = "route-1") -> Route:
    return Route(account_id="acct", route_handle=handle, status="tracking")


def _state(*devices: str) -> StoredState:
    return StoredState(pipeline=RouteTrackState.start([], started_at=T0), devices=list(devices))


def test_a_kept_state_serves_only_the_tag_it_was_stored_with() -> None:
    kept = ResidentStates(capacity=10)
    route = _route()
    tag = store(route, _state("phone"))
    kept.put(route_key(route), tag, _state("phone"))
    assert kept.has(route)
    served = load(route, [], now=T0, resident=kept)
    assert served.devices == ["phone"]

    # Another writer stored a different state: the row's tag moved on, the copy is not used.
    store(route, _state("phone", "tablet"))
    assert not kept.has(route)
    assert load(route, [], now=T0, resident=kept).devices == ["phone", "tablet"]
    # A row without a tag (written before tags existed) is always read from the row.
    route.track_state_tag = None
    assert not kept.has(route) and kept.get(route) is None


def test_kept_states_are_handed_out_as_copies_and_the_newest_are_kept() -> None:
    kept = ResidentStates(capacity=2)
    routes = [_route(f"route-{i}") for i in range(3)]
    for route in routes:
        kept.put(route_key(route), store(route, _state("phone")), _state("phone"))
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
        stored = load(row, [], now=T0)
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
