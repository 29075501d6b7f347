"""POST /orders/: manual creation, the order shape, unique handles and fulfilment attempts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.orders import repository
from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import (
    ISO_MS_Z,
    assert_coded_error,
    assert_validation,
    create_order,
    create_orders,
    handle,
    list_handles,
    routed_order,
)

POINT = {"type": "Point", "coordinates": [-122.4, 37.79]}
# Contract section 3.2: every key of the Order shape is present (null when unknown).
ORDER_KEYS = {
    "order_handle", "fulfillment_attempt", "status", "type", "type_index", "destination",
    "place_handle", "region", "ops_group_handle", "plan_mode", "plan_id", "route_handle",
    "planning_failure_reason", "track_mode", "device_switch_mode", "worker_handle",
    "driver_handle", "driver_name", "device_id", "worker_profile", "scheduled_after",
    "scheduled_at", "expected_service_time", "actual_service_time", "tracked_service_time",
    "capacity_used", "product_type", "priority", "metadata", "risk_status", "risks",
    "estimate", "distance", "duration", "tracking_rate", "time_to_first_event",
    "time_to_first_location", "share_url", "embed_url", "created_at", "planned_at",
    "assigned_at", "started_at", "arrived_at", "exited_at", "completed_at", "cancelled_at",
    "disabled_at", "enabled_at", "rescheduled_marked_at", "created_by", "cancellation_source",
    "outage_summary", "tasks", "timezone",
}


def test_manual_create_returns_orders_in_the_contract_shape(api: TestClient) -> None:
    """A manual batch answers 201 {"orders": [...]} with every Order field, unplanned."""
    body = create_orders_body(
        order_body(order_handle="o-1", scheduled_after="2031-03-10T08:00:00Z",
                   scheduled_at="2031-03-10T10:00:00Z", expected_service_time=600,
                   metadata={"customer": "acme", "floor": 3}, product_type=["frozen"],
                   capacity_used=4, priority="high"),
    )
    response = api.post("/orders/", json=body)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"orders"}
    [order] = response.json()["orders"]
    assert set(order) >= ORDER_KEYS
    assert order["order_handle"] == "o-1"
    assert order["status"] == "unplanned"
    assert order["plan_mode"] == "manual"
    assert order["fulfillment_attempt"] == 0
    assert (order["type"], order["type_index"]) == ("drop", 0)
    assert order["ops_group_handle"] == "default"
    assert order["scheduled_after"] == "2031-03-10T08:00:00.000Z"
    assert order["scheduled_at"] == "2031-03-10T10:00:00.000Z"
    assert order["expected_service_time"] == 600
    assert order["metadata"] == {"customer": "acme", "floor": 3}
    assert order["product_type"] == ["frozen"]
    assert order["capacity_used"] == 4
    assert order["priority"] == "high"
    assert order["route_handle"] is None and order["worker_handle"] is None
    assert order["risk_status"] is False
    assert ISO_MS_Z.match(order["created_at"])
    for stamp in ("planned_at", "assigned_at", "started_at", "completed_at", "cancelled_at"):
        assert order[stamp] is None


def test_times_with_any_offset_are_returned_in_utc_with_milliseconds(api: TestClient) -> None:
    """+05:30 and -02:00 inputs come back as the same instants in UTC, ``.mmmZ``."""
    order = create_order(
        api, scheduled_after="2031-03-10T09:15:30.123456-02:00",
        scheduled_at="2031-03-10T19:00:00+05:30",
    )
    assert order["scheduled_after"] == "2031-03-10T11:15:30.123Z"
    assert order["scheduled_at"] == "2031-03-10T13:30:00.000Z"
    detail = api.get(f"/orders/{order['order_handle']}").json()
    assert detail["scheduled_at"] == "2031-03-10T13:30:00.000Z"


def test_a_time_without_offset_is_taken_as_utc(api: TestClient) -> None:
    """A naive timestamp means UTC."""
    order = create_order(api, scheduled_after=None, scheduled_at="2031-03-10T10:00:00")
    assert order["scheduled_at"] == "2031-03-10T10:00:00.000Z"
    assert order["scheduled_after"] is None


def test_point_radius_defaults_to_100_metres(api: TestClient) -> None:
    """A Point destination without radius gets 100 m; a given radius is kept."""
    default, explicit = create_orders(
        api,
        order_body(destination={"geometry": {"type": "Point", "coordinates": [77.59, 12.97]}}),
        order_body(destination={"geometry": {"type": "Point", "coordinates": [77.6, 12.9]},
                                "radius": 35, "address": "MG Road"}),
    )
    assert default["destination"]["radius"] == 100
    assert default["destination"]["geometry"] == {"type": "Point", "coordinates": [77.59, 12.97]}
    assert explicit["destination"]["radius"] == 35
    assert explicit["destination"]["address"] == "MG Road"


def test_place_handle_is_echoed_at_the_top_level(api: TestClient) -> None:
    """A destination's place_handle also appears as the order's place_handle."""
    order = create_order(api, destination={"geometry": POINT, "place_handle": "store-9"})
    assert order["place_handle"] == "store-9"
    assert order["destination"]["place_handle"] == "store-9"
    assert create_order(api)["place_handle"] is None


def test_point_type_may_be_omitted(api: TestClient) -> None:
    """The contract's Point schema defaults ``type`` to Point."""
    order = create_order(api, destination={"geometry": {"coordinates": [2.35, 48.85]}})
    assert order["destination"]["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}


def test_polygon_destination_is_stored_without_radius(api: TestClient) -> None:
    """A Polygon destination keeps its ring and has no radius."""
    ring = [[2.0, 48.0], [2.1, 48.0], [2.1, 48.1], [2.0, 48.0]]
    order = create_order(api, destination={"geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert order["destination"]["geometry"] == {"type": "Polygon", "coordinates": [ring]}
    assert "radius" not in order["destination"]


def test_defaults_of_optional_fields(api: TestClient) -> None:
    """capacity_used defaults to 1, metadata to {}, product_type to [], priority to null."""
    order = create_order(api, metadata=None, expected_service_time=None)
    assert order["capacity_used"] == 1
    assert order["metadata"] == {}
    assert order["product_type"] == []
    assert order["priority"] is None
    assert order["expected_service_time"] is None


def test_pick_and_drop_of_one_handle_coexist(api: TestClient) -> None:
    """The pick and the drop of a handle are two orders, each addressable by ``type``."""
    name = handle()
    pick, drop = create_orders(
        api, order_body(order_handle=name, type="pick", metadata={"leg": "pick"}),
        order_body(order_handle=name, type="drop", metadata={"leg": "drop"}),
    )
    assert (pick["type"], drop["type"]) == ("pick", "drop")
    assert pick["fulfillment_attempt"] == drop["fulfillment_attempt"] == 0
    assert api.get(f"/orders/{name}", params={"type": "pick"}).json()["metadata"] == {
        "leg": "pick"}
    assert api.get(f"/orders/{name}", params={"type": "drop"}).json()["metadata"] == {
        "leg": "drop"}
    assert list_handles(api) == [name, name]


@pytest.mark.parametrize("plan_mode", ["scheduled", "on_demand"])
def test_automatic_plan_modes_store_orders_unplanned(api: TestClient, plan_mode: str) -> None:
    """scheduled and on_demand are accepted; the orders wait unplanned with that plan_mode."""
    name = handle()
    response = api.post("/orders/", json=create_orders_body(order_body(order_handle=name),
                                                            plan_mode=plan_mode))
    assert response.status_code == 201, response.text
    # Planning runs as a job afterwards (none runs in these tests): the order waits for it.
    order = api.get(f"/orders/{name}").json()
    assert order["status"] == "unplanned"
    assert order["plan_mode"] == plan_mode


def test_active_handle_cannot_be_created_twice(api: TestClient) -> None:
    """A second order with an active handle is a 409 duplicate_resource Error."""
    name = handle()
    create_order(api, order_handle=name)
    response = api.post("/orders/", json=create_orders_body(order_body(order_handle=name)))
    body = assert_coded_error(response, 409, "duplicate_resource")
    assert name in str(body["detail"])
    assert list_handles(api) == [name]


def test_batch_with_a_duplicate_creates_nothing(api: TestClient) -> None:
    """A batch is all or nothing: one duplicate rolls back the whole batch."""
    taken = create_order(api)["order_handle"]
    fresh = handle()
    response = api.post("/orders/", json=create_orders_body(
        order_body(order_handle=fresh), order_body(order_handle=taken)))
    assert_coded_error(response, 409, "duplicate_resource")
    assert list_handles(api) == [taken]


def test_repeated_handle_within_one_batch_is_422(api: TestClient) -> None:
    """The same (handle, type, type_index) twice in one batch names the repeat."""
    name = handle()
    response = api.post("/orders/", json=create_orders_body(
        order_body(order_handle=name), order_body(order_handle=name)))
    assert_validation(response, "json", "orders.1.order_handle")
    assert list_handles(api) == []


def test_handle_is_reusable_after_cancel_as_the_next_attempt(api: TestClient) -> None:
    """After cancel, the handle creates fulfillment_attempt 1 listing attempt 0."""
    name = handle()
    create_order(api, order_handle=name)
    assert api.post(f"/orders/{name}/cancel").status_code == 200
    again = create_order(api, order_handle=name)
    assert again["fulfillment_attempt"] == 1
    assert again["status"] == "unplanned"
    detail = api.get(f"/orders/{name}").json()
    assert detail["fulfillment_attempt"] == 1
    assert detail["previous_fulfillments"] == [{"order_handle": name, "fulfillment_attempt": 0}]
    old = api.get(f"/orders/{name}", params={"fulfillment_attempt": 0}).json()
    assert old["status"] == "cancelled"


def test_handle_is_reusable_after_complete(api: TestClient) -> None:
    """A completed handle is re-created as the next attempt, and so on after a cancel."""
    name = routed_order(api, order_handle=handle())["order_handle"]
    assert api.post(f"/orders/{name}/complete").status_code == 200
    assert create_order(api, order_handle=name)["fulfillment_attempt"] == 1
    assert api.post(f"/orders/{name}/cancel").status_code == 200
    assert create_order(api, order_handle=name)["fulfillment_attempt"] == 2
    detail = api.get(f"/orders/{name}").json()
    assert [p["fulfillment_attempt"] for p in detail["previous_fulfillments"]] == [0, 1]


def _post_in_threads(app: Any, tenant: Tenant, body: dict[str, Any], count: int) -> list[Any]:
    """POST the same body from ``count`` threads released together; the responses."""
    barrier = threading.Barrier(count)

    def post(_: int) -> Any:
        # One client per thread; no `with`, whose lifespan exit would dispose the engine.
        client = TestClient(app, raise_server_exceptions=False)
        client.auth = (tenant.account_id, tenant.secret_key)
        barrier.wait()
        return client.post("/orders/", json=body)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(post, range(count)))


def test_concurrent_creates_of_one_handle_give_one_201(
    app: Any, tenant: Tenant, api: TestClient
) -> None:
    """Threads racing to create one handle: exactly one 201, every other a 409, no 500."""
    name = handle()
    responses = _post_in_threads(app, tenant, create_orders_body(order_body(order_handle=name)), 6)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 5, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_coded_error(response, 409, "duplicate_resource")
    assert list_handles(api) == [name]


def test_unique_index_decides_when_the_check_misses_a_concurrent_insert(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the duplicate check cannot see the other insert, the database still says 409."""
    name = create_order(api)["order_handle"]
    # Make the service's check blind, as it is when a concurrent insert is not committed yet.
    monkeypatch.setattr(repository, "find_attempts", lambda *args, **kwargs: [])
    response = api.post("/orders/", json=create_orders_body(order_body(order_handle=name)))
    assert_coded_error(response, 409, "duplicate_resource")
    monkeypatch.undo()
    assert list_handles(api) == [name]


def test_unknown_ops_group_is_ops_group_not_defined(api: TestClient) -> None:
    """Creating in an ops group that does not exist is a 400 ops_group_not_defined."""
    response = api.post("/orders/", json=create_orders_body(ops_group_handle="nowhere"))
    body = assert_coded_error(response, 400, "ops_group_not_defined")
    assert "nowhere" in body["title"]
    assert list_handles(api) == []


def test_order_in_an_ops_group_takes_its_time_zone(api: TestClient) -> None:
    """An order created in an ops group is in that group, in the group's time zone."""
    group = handle("group")
    response = api.post("/workers/ops-groups/", json={"ops_group_handle": group,
                                                      "timezone": "Asia/Kolkata"})
    assert response.status_code in (200, 201), response.text
    [order] = create_orders(api, order_body(), ops_group_handle=group)
    assert order["ops_group_handle"] == group
    assert order["timezone"] == "Asia/Kolkata"
