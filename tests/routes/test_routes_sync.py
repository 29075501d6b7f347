"""The route aggregate's seam around order changes (``routes.service.order_change``): the
route follows (sequence closes up, version bumps, estimates exclude finished orders, a driven
route completes when done)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from routekeeper.core.links import Links
from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.orders import service as orders
from routekeeper.orders.schemas import Reschedule
from routekeeper.routes.context import RouteContext
from routekeeper.routes.service import order_change
from routekeeper.tracking.service import worker_location
from tests.conftest import Tenant
from tests.factories import order_body
from tests.routes.helpers import (
    create_route,
    events,
    make_group,
    make_worker,
    orders_at,
    route_handles,
    stored_route,
)


def _change(app: Any, db: Database, tenant: Tenant, handle: str,
            change: Callable[[Session, Order], object]) -> None:
    """Change an order the way the orders domain's flows do, inside the seam."""
    with db.write() as session:
        ctx = RouteContext(session, tenant.account_id, app.state.settings, app.state.travel,
                           worker_location, Links(app.state.settings.public_url))
        order = orders.find_order(session, tenant.account_id, handle)
        with order_change(ctx, order):
            change(session, order)


def test_a_cancelled_order_leaves_the_estimate(api: TestClient, app: Any, tenant: Tenant,
                                               db: Database) -> None:
    """Cancelling the far order shortens the drive and bumps the version."""
    make_group(api, "g")
    near, far, last = orders_at(api, (13.41, 52.50), (13.45, 52.52), (13.42, 52.50), group="g")
    route = create_route(api, [near, far, last], ops_group_handle="g")
    _change(app, db, tenant, far,
            lambda s, o: orders.cancel_order(s, o, public_url="http://testserver"))
    after = api.get(f"/orders/routes/{route['route_handle']}").json()
    assert after["version"] == 2
    assert after["estimate"]["distance"] < route["estimate"]["distance"]
    assert [o["status"] for o in after["orders"]] == ["planned", "cancelled", "planned"]
    assert after["estimate"]["polyline"]["coordinates"][1:] == [[13.41, 52.50], [13.42, 52.50]]
    assert events(db, tenant.account_id, type="route")[-1] == "updated"


def test_a_rescheduled_order_leaves_the_route(api: TestClient, app: Any, tenant: Tenant,
                                              db: Database) -> None:
    """A planned order rescheduled off its route: the rest closes up behind it."""
    a, b, c = orders_at(api, (13.41, 52.5), (13.42, 52.5), (13.43, 52.5))
    route = create_route(api, [a, b, c])
    later = datetime.now(UTC) + timedelta(days=2)
    _change(app, db, tenant, b, lambda s, o: orders.reschedule_order(
        s, o, Reschedule(scheduled_at=later), public_url="http://testserver"))
    stored = stored_route(db, tenant.account_id, route["route_handle"])
    assert stored["version"] == 2
    assert [(h, seq) for h, _, seq, _ in stored["orders"]] == [(a, 0), (c, 1)]
    assert route_handles(api.get(f"/orders/routes/{route['route_handle']}").json()) == [a, c]


def test_a_driven_route_completes_with_its_last_order(api: TestClient, app: Any,
                                                      tenant: Tenant, db: Database) -> None:
    """On a tracking route, finishing the last open order completes the route."""
    make_worker(api, "ada")
    tracked = api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "ada",
        "orders": [order_body(), order_body(destination={"geometry": {
            "type": "Point", "coordinates": [13.4, 52.5]}})]}).json()
    first, second = route_handles(tracked)
    done = "http://testserver"
    _change(app, db, tenant, first, lambda s, o: orders.complete_order(s, o, public_url=done))
    assert stored_route(db, tenant.account_id, tracked["route_handle"])["status"] == "tracking"
    _change(app, db, tenant, second, lambda s, o: orders.cancel_order(s, o, public_url=done))
    after = api.get(f"/orders/routes/{tracked['route_handle']}").json()
    assert (after["status"], after["completion_source"]) == ("completed", "orders_finished")
    assert events(db, tenant.account_id, type="route")[-1] == "completed"
    # A change to an order of a completed route reopens nothing.
    _change(app, db, tenant, first, lambda s, o: None)
    assert stored_route(db, tenant.account_id, tracked["route_handle"])["version"] == \
        after["version"]


def test_an_order_on_no_route_has_nothing_to_sync(api: TestClient, app: Any, tenant: Tenant,
                                                  db: Database) -> None:
    """An unplanned order's change touches no route."""
    (handle,) = orders_at(api, (13.41, 52.5))
    _change(app, db, tenant, handle,
            lambda s, o: orders.cancel_order(s, o, public_url="http://testserver"))
    assert events(db, tenant.account_id, type="route") == []
