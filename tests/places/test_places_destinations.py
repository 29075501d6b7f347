"""Places as order destinations: POST /orders/, POST /orders/track, order and place edits."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.factories import create_orders_body, order_body
from tests.orders.helpers import create_worker, handle
from tests.places.helpers import POINT, SQUARE, create_place

MOVED = {"type": "Point", "coordinates": [24.95, 60.17]}


def place_order(destination: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An order whose destination is a place reference."""
    return order_body(order_handle=handle("po"), destination=destination, **fields)


def test_place_handle_destination_takes_the_place(api: TestClient) -> None:
    """The order gets the place's geometry, radius, address, id and default service time."""
    place = create_place(api)
    body = place_order({"place_handle": place["place_handle"]})
    del body["expected_service_time"]
    own = place_order({"place_handle": place["place_handle"]}, expected_service_time=60)
    response = api.post("/orders/", json=create_orders_body(body, own))
    assert response.status_code == 201, response.text
    first, second = response.json()["orders"]
    destination = first["destination"]
    assert destination["geometry"] == POINT and destination["radius"] == 40
    assert destination["address"] == place["address"]
    assert destination["place_handle"] == place["place_handle"]
    assert destination["place_id"] == place["place_id"]
    assert first["place_handle"] == place["place_handle"]
    assert first["expected_service_time"] == 420 and second["expected_service_time"] == 60
    listed = api.get("/orders/", params={"place_handle": place["place_handle"]}).json()
    assert len(listed["orders"]) == 2
    assert api.get(f"/places/v1/{place['place_handle']}").json()["order_count"] == 2


def test_polygon_place_and_geofence_id(api: TestClient) -> None:
    """A polygon place gives a polygon destination; geofence_id names a place by its id."""
    place = create_place(api, geometry=SQUARE, radius=None)
    response = api.post("/orders/", json=create_orders_body(
        place_order({"geofence_id": place["place_id"]})))
    assert response.status_code == 201, response.text
    destination = response.json()["orders"][0]["destination"]
    assert destination["geometry"] == SQUARE and "radius" not in destination
    assert destination["geofence_id"] == place["place_id"]


def test_unknown_place_or_geofence_refuses_the_batch(api: TestClient) -> None:
    """Unknown references are the contract's errors, and nothing of the batch is stored."""
    good = create_place(api)
    unknown_place = api.post("/orders/", json=create_orders_body(
        place_order({"place_handle": good["place_handle"]}),
        place_order({"place_handle": "no-such-place"})))
    assert unknown_place.status_code == 400, unknown_place.text
    assert unknown_place.json()["code"] == "destination_place_not_found"
    unknown_fence = api.post("/orders/", json=create_orders_body(
        place_order({"geofence_id": "no-such-fence"})))
    assert unknown_fence.status_code == 404
    assert unknown_fence.json()["code"] == "geofence_not_found"
    assert api.get("/orders/").json()["orders"] == []


def test_track_with_place_destinations(api: TestClient) -> None:
    """POST /orders/track takes place_handle destinations, and refuses unknown ones."""
    worker = create_worker(api)
    place = create_place(api, geometry=SQUARE, radius=None)
    body = {"track_mode": "on_time", "worker_handle": worker,
            "orders": [place_order({"place_handle": place["place_handle"]})]}
    response = api.post("/orders/track", json=body)
    assert response.status_code == 201, response.text
    [order] = response.json()["orders"]
    assert order["destination"]["geometry"] == SQUARE
    missing = {"track_mode": "on_time", "worker_handle": worker,
               "orders": [place_order({"place_handle": "nowhere"})]}
    refused = api.post("/orders/track", json=missing)
    assert refused.status_code == 400 and refused.json()["code"] == "destination_place_not_found"


def test_route_edit_to_a_place_moves_the_stop(api: TestClient) -> None:
    """PATCH of a routed order's destination to a place re-estimates and bumps its route."""
    worker = create_worker(api)
    route = api.post("/orders/", json=create_orders_body(
        order_body(order_handle=handle("r1")), order_body(order_handle=handle("r2")),
        worker_handle=worker)).json()
    place = create_place(api)
    order = route["orders"][1]["order_handle"]
    patched = api.patch(f"/orders/{order}", json={"destination": {
        "place_handle": place["place_handle"]}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["destination"]["geometry"] == POINT
    after = api.get(f"/orders/routes/{route['route_handle']}").json()
    assert after["version"] > route["version"]
    refused = api.patch(f"/orders/{order}", json={"destination": {"place_handle": "nowhere"}})
    assert refused.status_code == 400


def test_update_associated_orders_moves_open_orders_only(api: TestClient) -> None:
    """A place's new geometry reaches its open orders only when asked, never finished ones."""
    place = create_place(api)
    handle_ = place["place_handle"]
    created = api.post("/orders/", json=create_orders_body(
        place_order({"place_handle": handle_}), place_order({"place_handle": handle_}))).json()
    done, open_ = (o["order_handle"] for o in created["orders"])
    assert api.post(f"/orders/{done}/cancel").status_code == 200
    quiet = api.patch(f"/places/v1/{handle_}", json={"radius": 55})
    assert quiet.status_code == 200
    assert api.get(f"/orders/{open_}").json()["destination"]["radius"] == 40
    moved = api.patch(f"/places/v1/{handle_}", params={"update_associated_orders": "true"},
                      json={"geometry": MOVED})
    assert moved.status_code == 200, moved.text
    destination = api.get(f"/orders/{open_}").json()["destination"]
    assert destination["geometry"] == MOVED and destination["radius"] == 55
    assert api.get(f"/orders/{done}").json()["destination"]["geometry"] == POINT


def test_places_sort_by_order_count(api: TestClient) -> None:
    """sort_by=order_count ranks places by the orders destined for them, pages included."""
    busy, quiet, idle = (create_place(api) for _ in range(3))
    api.post("/orders/", json=create_orders_body(
        *[place_order({"place_handle": busy["place_handle"]}) for _ in range(3)],
        place_order({"place_handle": quiet["place_handle"]})))
    first = api.get("/places/v1/", params={"sort_by": "order_count", "limit": 2}).json()
    assert [(p["place_handle"], p["order_count"]) for p in first["places"]] == [
        (busy["place_handle"], 3), (quiet["place_handle"], 1)]
    rest = api.get("/places/v1/", params={"sort_by": "order_count", "limit": 2,
                                          "pagination_token": first["pagination_token"]})
    assert [p["place_handle"] for p in rest.json()["places"]] == [idle["place_handle"]]
    ascending = api.get("/places/v1/", params={"sort_by": "order_count",
                                               "sort_direction": "asc"}).json()
    assert ascending["places"][0]["place_handle"] == idle["place_handle"]
