"""A route's order rows kept by the processor between batches: every write of an order gives
the route a new ``orders_tag``, and kept rows serve only the tag they were kept with."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.tracking import processor, repository
from routekeeper.tracking.engine.pipeline import RouteTrackState
from routekeeper.tracking.routeorders import (
    KeptOrders,
    OrderRow,
    ResidentOrders,
    RouteOrders,
    tracked_order,
)
from routekeeper.tracking.routestate import StoredState, sync_plan
from tests.conftest import Tenant
from tests.routes.helpers import orders_at, refs

from .api_helpers import Road, TrackClock, make_road, ts
from .simulate import ORIGIN, FakeTravel, offset


def _route(db: Database, road: Road) -> Route:
    with db.read() as session:
        route = session.get(Route, (road.account_id, road.route_handle))
        assert route is not None
        session.expunge(route)
        return route


def _tag(db: Database, road: Road) -> int | None:
    return _route(db, road).orders_tag


def _rows(db: Database, road: Road) -> tuple[OrderRow, ...]:
    with db.read() as session:
        return tuple(RouteOrders(session, _route(db, road)).rows)


def _row(order_id: str, handle: str) -> OrderRow:
    return OrderRow(order_id, handle, "ongoing", {}, None, None, None, None, None, None,
                    None, None, None, False)


def test_kept_rows_serve_only_their_tag_and_the_newest_are_kept() -> None:
    kept = ResidentOrders(capacity=2)
    routes = [Route(account_id="acct", route_handle=f"r{i}", status="tracking", orders_tag=i)
              for i in range(3)]
    for i, route in enumerate(routes):
        kept.put(("acct", route.route_handle), i, KeptOrders((_row(f"o{i}", f"h{i}"),), {}))
    assert len(kept) == 2
    assert kept.get(routes[0]) is None
    found = kept.get(routes[2])
    assert found is not None and found.rows[0].id == "o2"
    routes[2].orders_tag = 7  # another writer wrote one of its orders
    assert kept.get(routes[2]) is None
    routes[1].orders_tag = None  # a row from before tags: never served from memory
    assert kept.get(routes[1]) is None
    kept.put(("acct", "r1"), None, KeptOrders((), {}))
    assert len(kept) == 1


def test_every_write_of_an_order_gives_its_route_a_new_tag(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    road = make_road(api, db, tenant, track_clock)
    tags = [_tag(db, road)]
    assert tags[0] is not None

    assert api.get(f"/orders/{road.handles['P']}").status_code == 200
    assert _tag(db, road) == tags[-1]  # reading changes nothing

    response = api.patch(f"/orders/{road.handles['Q']}", json={"metadata": {"floor": 3}})
    assert response.status_code == 200, response.text
    tags.append(_tag(db, road))
    response = api.patch(f"/orders/{road.handles['P']}",
                         json={"expected_service_time": 300})
    assert response.status_code == 200, response.text
    tags.append(_tag(db, road))
    assert len(set(tags)) == 3

    # An order that leaves the route changes the tag of the route it left, and of the one
    # it joined.
    other = "other-route"
    with db.write() as session:
        session.add(Route(account_id=road.account_id, route_handle=other, status="planned",
                          created_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
    other_tag = _tag(db, Road(**{**road.__dict__, "route_handle": other}))
    with db.write() as session:
        order = session.scalar(select(Order).where(Order.account_id == road.account_id,
                                                   Order.order_handle == road.handles["Q"]))
        assert order is not None
        order.route_handle = other
    with db.read() as session:
        moved_to = session.get(Route, (road.account_id, other))
        assert moved_to is not None and moved_to.orders_tag != other_tag
    assert _tag(db, road) not in tags


def test_the_processor_keeps_the_rows_it_wrote_and_reads_them_after_an_edit(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    road = make_road(api, db, tenant, track_clock)
    road.upload(*road.drive(0, 50, 0, 250))
    road.upload(*road.drive(60, 100, 300, 500))
    kept = processor.RESIDENT_ORDERS.get(_route(db, road))
    assert kept is not None
    # What it kept is what the database holds: its own estimate and risk updates applied.
    assert kept.rows == _rows(db, road)
    assert kept.rows[0].estimate is not None

    # A stop joins the route at 1.5 km. Kept rows would not have it in the plan: only the
    # rows read again give it its arrival.
    lon, lat = offset(ORIGIN, 1500.0, 0.0)
    handle = orders_at(api, (lon, lat))[0]
    response = api.post(f"/orders/routes/{road.route_handle}/add",
                        json={"orders": refs(handle)})
    assert response.status_code == 200, response.text
    assert processor.RESIDENT_ORDERS.get(_route(db, road)) is None

    road.upload(*road.drive(110, 300, 550, 1500))
    road.upload(*road.drive(310, 400, 1500, 1500))
    assert api.get(f"/orders/{handle}").json()["arrived_at"] is not None
    # A batch with events took order objects: the rows are kept as those objects left them,
    # under the tag their flush gave the route.
    kept = processor.RESIDENT_ORDERS.get(_route(db, road))
    assert kept is not None and kept.rows == _rows(db, road)
    assert next(row for row in kept.rows if row.order_handle == handle).arrived_at is not None
    road.upload(*road.drive(410, 430, 1500, 1500))  # a batch without events keeps them
    kept = processor.RESIDENT_ORDERS.get(_route(db, road))
    assert kept is not None and kept.rows == _rows(db, road)


def test_another_processes_estimate_write_is_not_overlooked(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    road = make_road(api, db, tenant, track_clock)
    road.upload(*road.drive(0, 50, 0, 250))  # the first batch starts the route: objects
    road.upload(*road.drive(60, 100, 300, 500))
    assert processor.RESIDENT_ORDERS.get(_route(db, road)) is not None

    # Another process's processor (or the periodic job) writes P's estimate in bulk, not
    # through the ORM's flush.
    later = datetime.now(UTC) + timedelta(hours=3)
    estimate = {"arrive_at": ts(later), "remaining_distance": 12_345}
    with db.write() as session:
        locked = repository.lock_routes(session, [(road.account_id, road.route_handle)])
        orders = RouteOrders(session, locked[0])
        orders.set_tracking(orders.rows[0].id, estimate=estimate, risks=orders.rows[0].risks,
                            risk_status=orders.rows[0].risk_status)
        orders.flush()
    assert processor.RESIDENT_ORDERS.get(_route(db, road)) is None

    # The next batch reads the rows again and judges its new ETA against that estimate.
    road.upload(*road.drive(110, 150, 550, 750))
    p = road.order("P")
    assert p["estimate"]["remaining_distance"] != 12_345
    road.upload(*road.drive(160, 180, 800, 900))
    kept = processor.RESIDENT_ORDERS.get(_route(db, road))
    assert kept is not None and kept.rows == _rows(db, road)


def _placed(order_id: str, lon: float) -> OrderRow:
    destination = {"geometry": {"type": "Point", "coordinates": [lon, 60.17]}, "radius": 50}
    return OrderRow(order_id, order_id, "ongoing", destination, None, None, 120, None, None,
                    None, None, None, None, False)


def test_the_plan_is_matched_by_identity_once_equal_entries_were_found() -> None:
    rows = (_placed("a", 24.90), _placed("b", 24.95))
    # A state started from entries built apart from the kept ones (as a route's start is).
    stored = StoredState(pipeline=RouteTrackState.start(
        [tracked_order(row) for row in rows], started_at=datetime(2030, 1, 1, tzinfo=UTC)))
    started = stored.pipeline
    kept = KeptOrders(rows, {})
    route = Route(account_id="acct", route_handle="r", status="tracking")
    orders = RouteOrders(None, route, kept=kept)  # type: ignore[arg-type]
    sync_plan(stored, orders.rows, orders.tracked)
    assert stored.pipeline is started  # equal plan: nothing replaced
    assert all(kept.tracked[t.key][1] is t.order for t in started.orders)  # the state's own
    # The rows read again (new destination dicts, equal): still the state's entries.
    again = tuple(deepcopy(row) for row in rows)
    orders = RouteOrders(None, route, kept=KeptOrders(again, kept.tracked))  # type: ignore[arg-type]
    sync_plan(stored, orders.rows, orders.tracked)
    assert stored.pipeline is started
    assert all(kept.tracked[row.id][0] is row for row in again)  # matched by identity next
    # A moved destination is a new plan entry, and the state takes it.
    moved = (again[0], _placed("b", 24.96))
    orders = RouteOrders(None, route, kept=KeptOrders(moved, kept.tracked))  # type: ignore[arg-type]
    sync_plan(stored, orders.rows, orders.tracked)
    assert stored.pipeline is not started
    assert stored.pipeline.order("b").order.geofence.center[0] == 24.96
    assert stored.pipeline.order("a").order is started.order("a").order
