"""Changing routes through the API: add, remove, resequence, optimise, reassign, complete,
and the version every change bumps (a stale ``?version=`` is a 409 that changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.factories import order_body
from tests.routes.helpers import (
    create_route,
    make_group,
    make_worker,
    order_row,
    orders_at,
    refs,
    route_handles,
    set_devices,
    stored_route,
)
from tests.shapes import messages_at


def _path(route: dict[str, Any], action: str = "") -> str:
    return f"/orders/routes/{route['route_handle']}" + (f"/{action}" if action else "")


def test_add_appends_or_inserts_at_the_cheapest_place(api: TestClient) -> None:
    """resequence false appends; true puts the order where the drive is shortest."""
    make_group(api, "g")
    west, east = orders_at(api, (13.38, 52.50), (13.48, 52.50), group="g")
    route = create_route(api, [west, east], ops_group_handle="g")
    (middle,) = orders_at(api, (13.39, 52.50), group="g")
    response = api.post(_path(route, "add"), json={"orders": refs(middle)})
    assert response.status_code == 200, response.text
    appended = response.json()
    assert route_handles(appended) == [west, east, middle]
    assert appended["version"] == 2
    assert appended["orders"][2]["status"] == "planned"
    assert appended["estimate"]["distance"] > route["estimate"]["distance"]
    (between,) = orders_at(api, (13.43, 52.50), group="g")
    # HyperTrack's own example body: "order_handles" as plain strings.
    response = api.post(_path(route, "add"), json={"order_handles": [between],
                                                   "resequence": True})
    assert response.status_code == 200, response.text
    inserted = response.json()
    assert route_handles(inserted) == [west, between, east, middle]
    assert inserted["version"] == 3
    assert inserted["estimate"]["distance"] == appended["estimate"]["distance"]  # on the way


def test_add_refuses_orders_on_another_route(api: TestClient, tenant: Tenant,
                                             db: Database) -> None:
    """An order already planned elsewhere is a 409 and neither route changes."""
    first, second = orders_at(api, (13.41, 52.50), (13.42, 52.50))
    one, two = create_route(api, [first]), create_route(api, [second])
    response = api.post(_path(two, "add"), json={"orders": refs(first)})
    assert (response.status_code, response.json()["code"]) == (409, "order_not_unplanned")
    assert order_row(db, tenant.account_id, first) == ("planned", one["route_handle"])
    assert stored_route(db, tenant.account_id, two["route_handle"])["version"] == 1
    assert api.post(_path(two, "add"), json={"orders": refs("ghost")}).status_code == 404
    response = api.post(_path(two, "add"), json={"orders": []})
    assert response.status_code == 422
    assert api.post("/orders/routes/nope/add", json={"orders": refs(first)}).status_code == 404


def test_remove_returns_orders_to_unplanned(api: TestClient, tenant: Tenant,
                                            db: Database) -> None:
    """Removed orders lose route, worker and estimate; the rest is re-estimated."""
    make_worker(api, "ada")
    # b is off the line through a and c, so taking it out shortens the drive.
    a, b, c = orders_at(api, (13.41, 52.50), (13.42, 52.51), (13.43, 52.50))
    route = create_route(api, [a, b, c], worker_handle="ada")
    response = api.post(_path(route, "remove"), json={"orders": refs(b)})
    assert response.status_code == 200, response.text
    after = response.json()
    assert route_handles(after) == [a, c] and after["version"] == 2
    assert after["estimate"]["distance"] < route["estimate"]["distance"]
    removed = api.get(f"/orders/{b}").json()
    assert removed["status"] == "unplanned"
    assert (removed["route_handle"], removed["worker_handle"], removed["estimate"]) == \
        (None, None, None)
    response = api.post(_path(route, "remove"), json={"orders": refs(b)})
    assert response.status_code == 422  # no longer on this route
    assert messages_at(response.json()["detail"], "json", "orders.0.order_handle")
    # Emptied, a route stays (HyperTrack: "may be empty") with nothing to estimate.
    emptied = api.post(_path(route, "remove"), json={"orders": refs(a, c)}).json()
    assert (emptied["orders"], emptied["estimate"], emptied["version"]) == ([], None, 3)
    assert order_row(db, tenant.account_id, a) == ("unplanned", None)


def test_orders_under_way_stay_on_a_tracking_route(api: TestClient) -> None:
    """On a route being driven: an added order starts at once; an ongoing one cannot be
    removed (409), only cancelled or completed."""
    make_worker(api, "ada")
    tracked = api.post("/orders/track", json={"track_mode": "on_time", "worker_handle": "ada",
                                              "orders": [order_body()]})
    assert tracked.status_code == 201, tracked.text
    route = tracked.json()
    (late,) = orders_at(api, (13.41, 52.50))
    response = api.post(_path(route, "add"), json={"orders": refs(late), "resequence": True})
    assert response.status_code == 200, response.text
    added = response.json()["orders"]
    assert [o["status"] for o in added] == ["ongoing", "ongoing"]
    assert all(o["share_url"] and o["started_at"] for o in added)
    response = api.post(_path(route, "remove"), json={"orders": refs(late)})
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")
    assert api.get(f"/orders/{late}").json()["route_handle"] == route["route_handle"]


def test_resequence_sets_the_given_order(api: TestClient) -> None:
    """The new sequence is taken as given; it must list every open order exactly once."""
    a, b, c = orders_at(api, (13.41, 52.50), (13.42, 52.50), (13.43, 52.50))
    route = create_route(api, [a, b, c])
    response = api.post(_path(route, "resequence"), json={"orders": refs(c, a, b)})
    assert response.status_code == 200, response.text
    assert route_handles(response.json()) == [c, a, b]
    assert response.json()["version"] == 2
    for partial in ([c, a], [c, a, b, b]):
        response = api.post(_path(route, "resequence"), json={"orders": refs(*partial)})
        assert response.status_code == 422, partial
    assert route_handles(api.get(_path(route)).json()) == [c, a, b]


def test_optimise_resequences_for_the_shortest_drive(api: TestClient) -> None:
    """POST optimise turns a zigzag into the shortest tour and bumps the version."""
    make_group(api, "g")
    handles = orders_at(api, (13.39, 52.50), (13.47, 52.50), (13.38, 52.50), (13.46, 52.50),
                        group="g")
    route = create_route(api, handles, ops_group_handle="g")
    response = api.post(_path(route, "optimise"), json={})
    assert response.status_code == 200, response.text
    optimised = response.json()
    assert optimised["version"] == 2
    assert route_handles(optimised)[2:] == [handles[3], handles[1]]  # east, in order
    assert optimised["estimate"]["distance"] < route["estimate"]["distance"] * 0.7


def test_reassign_to_a_worker_or_a_device(api: TestClient, tenant: Tenant,
                                          db: Database) -> None:
    """Reassign by worker, or by a device linked to a worker; unknowns are coded 404s."""
    make_worker(api, "ada")
    make_worker(api, "bo")
    set_devices(db, tenant.account_id, "bo", ["dev-bo-1", "dev-bo-2"])
    route = create_route(api, orders_at(api, (13.41, 52.50)))
    response = api.post(_path(route, "reassign"), json={"worker_handle": "ada"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["worker_handle"], body["device_id"]) == \
        ("assigned", "ada", None)
    assert body["assigned_at"] and body["version"] == 2
    assert body["orders"][0]["status"] == "assigned"
    assert body["orders"][0]["worker_handle"] == "ada"
    response = api.post(_path(route, "reassign"), json={"device_id": "dev-bo-2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["worker_handle"], body["device_id"], body["version"]) == ("bo", "dev-bo-2", 3)
    assert body["orders"][0]["device_id"] == "dev-bo-2"
    response = api.post(_path(route, "reassign"), json={"worker_handle": "bo"})
    assert response.json()["device_id"] == "dev-bo-1"  # the worker's first device
    cases = [({"device_id": "nope"}, 404, "device_not_found"),
             ({"worker_handle": "nope"}, 404, "driver_not_found"),
             ({"worker_handle": "ada", "device_id": "dev-bo-1"}, 400,
              "driver_not_linked_to_device")]
    for body_in, status, code in cases:
        response = api.post(_path(route, "reassign"), json=body_in)
        assert (response.status_code, response.json()["code"]) == (status, code), body_in
    response = api.post(_path(route, "reassign"), json={})
    assert response.status_code == 422
    assert stored_route(db, tenant.account_id, route["route_handle"])["worker"] == "bo"


def test_complete_cancels_open_orders_once(api: TestClient) -> None:
    """Complete: route completed, unfinished orders cancelled; again is a coded 409."""
    a, b = orders_at(api, (13.41, 52.50), (13.42, 52.50))
    route = create_route(api, [a, b])
    assert api.post(f"/orders/{a}/cancel").status_code == 200  # the route follows: version 2
    response = api.post(_path(route, "complete"), json={})
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["status"], done["version"]) == ("completed", 3)
    assert done["completed_at"] and done["estimate"] is None
    assert [o["status"] for o in done["orders"]] == ["cancelled", "cancelled"]
    assert done["orders"][1]["cancellation_source"]["source"] == "route_completed"
    again = api.post(_path(route, "complete"))
    assert again.status_code == 409
    assert again.json() == {"code": "validation_error", "title": "Route already completed",
                            "detail": {"description": f"Route {route['route_handle']} "
                                                      "is completed"}}
    (c,) = orders_at(api, (13.43, 52.50))
    for action, body in (("add", {"orders": refs(c)}), ("optimise", {}),
                         ("reassign", {"worker_handle": "x"})):
        response = api.post(_path(route, action), json=body)
        assert response.status_code == 409, action
    assert api.get(f"/orders/{c}").json()["status"] == "unplanned"


MUTATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("patch", "", {"metadata": {"late": True}}),
    ("post", "add", {"orders": [{"order_handle": "SPARE"}]}),
    ("post", "remove", {"orders": [{"order_handle": "FIRST"}]}),
    ("post", "resequence", {"orders": [{"order_handle": "SECOND"},
                                       {"order_handle": "FIRST"}]}),
    ("post", "optimise", {}),
    ("post", "reassign", {"worker_handle": "ada"}),
    ("post", "complete", {}),
]


@pytest.mark.parametrize(("method", "action", "template"), MUTATIONS,
                         ids=[m[1] or "patch" for m in MUTATIONS])
def test_a_stale_version_changes_nothing(
    api: TestClient, tenant: Tenant, db: Database, method: str, action: str,
    template: dict[str, Any],
) -> None:
    """Every mutation: ?version=current works and bumps it; a stale one is a 409 that
    leaves the route and its orders exactly as they were."""
    make_worker(api, "ada")
    first, second, spare = orders_at(api, (13.41, 52.50), (13.42, 52.50), (13.43, 52.50))
    names = {"FIRST": first, "SECOND": second, "SPARE": spare}
    body = {k: ([{"order_handle": names[r["order_handle"]]} for r in v]
                if k == "orders" else v) for k, v in template.items()}
    route = create_route(api, [first, second])
    api.patch(_path(route), json={"metadata": {"v": 2}})  # now at version 2
    before = stored_route(db, tenant.account_id, route["route_handle"])
    assert before["version"] == 2
    stale = getattr(api, method)(_path(route, action), params={"version": 1}, json=body)
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == "version_conflict"
    assert stale.json()["detail"]["current_version"] == 2
    assert stored_route(db, tenant.account_id, route["route_handle"]) == before
    assert order_row(db, tenant.account_id, spare) == ("unplanned", None)
    fresh = getattr(api, method)(_path(route, action), params={"version": 2}, json=body)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["version"] == 3
    assert api.get(_path(route), params={"version": "x"}).status_code == 200  # reads ignore it
    bad = getattr(api, method)(_path(route, action), params={"version": "x"}, json=body)
    assert bad.status_code == 422
    assert "version" in bad.json()["detail"]["query"]
