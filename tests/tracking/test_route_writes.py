"""The processor's writes of its routes' tracking columns (``repository.write_route_tracking``):
on PostgreSQL one statement for a group's routes instead of the ORM's UPDATE of each, with the
values the ORM would have stored; routes with other changes are left to the ORM."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.route import Route
from routekeeper.tracking.repository import write_route_tracking
from tests.conftest import Tenant

from .api_helpers import TrackClock, make_road
from .simulate import FakeTravel

_STORED = (Route.track_tail, Route.track_state_tag, Route.distance, Route.duration,
           Route.tracking_rate, Route.end_location, Route.orders_tag, Route.status)


def _stored(db: Database, account_id: str, handle: str) -> tuple[Any, ...]:
    with db.read() as session:
        return tuple(session.execute(select(*_STORED).where(
            Route.account_id == account_id, Route.route_handle == handle)).one())


def _tracked_route(api: TestClient, db: Database, tenant: Tenant,
                   track_clock: TrackClock) -> tuple[str, str]:
    """A route that started tracking (its first fixes processed): its key."""
    road = make_road(api, db, tenant, track_clock)
    road.upload(*road.drive(0, 100, 0, 1000))
    return (tenant.account_id, road.route_handle)


def test_tracking_columns_are_written_as_the_orm_writes_them(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    key = _tracked_route(api, db, tenant, track_clock)
    with db.write() as session:
        route = session.get(Route, key)
        assert route is not None
        route.track_tail = [{"now": "2030-01-01T00:00:00.000Z", "fixes": [{"lon": 24.9}]}]
        route.track_state_tag = 2**62 + 7
        route.distance, route.duration, route.tracking_rate = 1234, 567, 0.8125
        route.end_location = {"type": "Point", "coordinates": [24.93, 60.17]}
        route.orders_tag = None
        expected = (route.track_tail, route.track_state_tag, 1234, 567, 0.8125,
                    route.end_location, None, route.status)
        write_route_tracking(session, [route])
        if db.dialect == "postgresql":
            # Written already: the flush has nothing left to write for it.
            assert not session.is_modified(route)
    assert _stored(db, *key) == expected
    with db.write() as session:
        route = session.get(Route, key)
        assert route is not None
        route.track_tail = None  # JSON's null, as the ORM stores a None
        write_route_tracking(session, [route])
    with db.read() as session:
        assert session.execute(select(Route.track_tail.is_(None)).where(
            Route.account_id == key[0], Route.route_handle == key[1])).scalar_one() is False
    assert _stored(db, *key)[0] is None


def test_a_route_with_other_changes_is_left_to_the_orm(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    key = _tracked_route(api, db, tenant, track_clock)
    with db.write() as session, session.no_autoflush:
        route = session.get(Route, key)
        assert route is not None
        before = route.distance
        route.distance = 4321
        route.completion_type = "manual"  # not tracking's: the whole route goes to the flush
        write_route_tracking(session, [route])
        assert session.is_modified(route)
        # Not written yet: the row as the transaction sees it still has the old distance.
        assert session.execute(select(Route.distance).where(
            Route.account_id == key[0], Route.route_handle == key[1])).scalar_one() == before
        assert before != 4321
    assert _stored(db, *key)[2] == 4321


def test_route_and_order_pages_keep_room_for_new_row_versions(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("fillfactor is PostgreSQL's")
    with db.read() as session:
        options = dict(session.execute(text(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('route', 'order')"
            " AND relkind IN ('r', 'p')")).all())
    assert options == {"route": ["fillfactor=70"], "order": ["fillfactor=70"]}
