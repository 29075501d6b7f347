"""Order actions: PATCH, complete, cancel, disable, enable, reschedule, events, selectors."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.factories import order_body
from tests.orders.helpers import (
    ISO_MS_Z,
    assert_coded_error,
    assert_validation,
    create_order,
    create_orders,
    handle,
    routed_order,
    routed_orders,
    start_route,
)


def test_patch_changes_the_fields_sent(api: TestClient) -> None:
    """PATCH sets metadata, window, service time, product types, capacity and priority."""
    name = create_order(api, metadata={"a": 1})["order_handle"]
    response = api.patch(f"/orders/{name}", json={
        "metadata": {"b": 2}, "scheduled_after": "2031-04-01T08:00:00+02:00",
        "scheduled_at": "2031-04-01T12:00:00Z", "expected_service_time": 900,
        "product_type": ["fragile"], "capacity_used": 7, "priority": "low",
    })
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["metadata"] == {"b": 2}
    assert order["scheduled_after"] == "2031-04-01T06:00:00.000Z"
    assert order["scheduled_at"] == "2031-04-01T12:00:00.000Z"
    assert order["expected_service_time"] == 900
    assert order["product_type"] == ["fragile"]
    assert order["capacity_used"] == 7
    assert order["priority"] == "low"
    assert "timeline" in order
    assert api.get(f"/orders/{name}").json()["metadata"] == {"b": 2}


def test_patch_leaves_unsent_fields_and_null_clears_optional_ones(api: TestClient) -> None:
    """Fields not sent keep their values; null clears scheduled_after and priority."""
    order = create_order(api, priority="high", capacity_used=3)
    name = order["order_handle"]
    response = api.patch(f"/orders/{name}", json={"scheduled_after": None, "priority": None})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["scheduled_after"] is None and patched["priority"] is None
    assert patched["capacity_used"] == 3
    assert patched["scheduled_at"] == order["scheduled_at"]
    assert patched["metadata"] == order["metadata"]


def test_patch_window_must_stay_ordered(api: TestClient) -> None:
    """A PATCH that puts scheduled_after after scheduled_at is a 422 naming the field sent."""
    name = create_order(api, scheduled_after="2031-04-01T08:00:00Z",
                        scheduled_at="2031-04-01T10:00:00Z")["order_handle"]
    assert_validation(api.patch(f"/orders/{name}", json={"scheduled_at": "2031-04-01T07:00:00Z"}),
                      "json", "scheduled_at")
    assert_validation(api.patch(f"/orders/{name}",
                                json={"scheduled_after": "2031-04-01T11:00:00Z"}),
                      "json", "scheduled_after")
    assert api.get(f"/orders/{name}").json()["scheduled_at"] == "2031-04-01T10:00:00.000Z"


def test_patch_moves_an_order_to_another_ops_group(api: TestClient) -> None:
    """ops_group_handle moves the order, and its time zone with it; unknown groups are 400."""
    name = create_order(api)["order_handle"]
    group = handle("group")
    created = api.post("/workers/ops-groups/", json={"ops_group_handle": group,
                                                     "timezone": "Asia/Kolkata"})
    assert created.status_code in (200, 201)
    moved = api.patch(f"/orders/{name}", json={"ops_group_handle": group}).json()
    assert moved["ops_group_handle"] == group and moved["timezone"] == "Asia/Kolkata"
    assert_coded_error(api.patch(f"/orders/{name}", json={"ops_group_handle": "missing"}), 400,
                       "ops_group_not_defined")


def test_patch_destination_only_before_tracking(api: TestClient) -> None:
    """The destination changes before tracking starts and is refused (409) after."""
    route, [order] = routed_orders(api, order_body())
    name = order["order_handle"]
    new_place = {"geometry": {"type": "Point", "coordinates": [-122.3, 37.8]}, "radius": 50}
    response = api.patch(f"/orders/{name}", json={"destination": new_place})
    assert response.status_code == 200, response.text
    assert response.json()["destination"]["geometry"]["coordinates"] == [-122.3, 37.8]
    assert response.json()["destination"]["radius"] == 50
    start_route(api, route)
    refused = api.patch(f"/orders/{name}", json={"destination": {
        "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}}})
    body = assert_coded_error(refused, 409, "invalid_transition")
    assert "destination" in body["title"] and "ongoing" in body["title"]
    assert api.get(f"/orders/{name}").json()["destination"]["geometry"]["coordinates"] == [
        -122.3, 37.8]
    # Other fields of a tracked order still change.
    assert api.patch(f"/orders/{name}", json={"metadata": {"gate": "B"}}).status_code == 200


def test_complete_an_order_on_a_route(api: TestClient) -> None:
    """complete answers the detail shape with status completed and completed_at."""
    name = routed_order(api)["order_handle"]
    response = api.post(f"/orders/{name}/complete")
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["status"] == "completed"
    assert ISO_MS_Z.match(order["completed_at"])
    assert order["timeline"][-1]["type"] == "order_completed"


def test_complete_an_unplanned_order_is_refused(api: TestClient) -> None:
    """An order never on a route cannot be completed: 409 naming action and status."""
    name = create_order(api)["order_handle"]
    body = assert_coded_error(api.post(f"/orders/{name}/complete"), 409, "invalid_transition")
    assert "complete" in body["title"] and "unplanned" in body["title"]


def test_cancel_merges_metadata(api: TestClient) -> None:
    """cancel with {"metadata": {...}} merges it into the order's metadata."""
    name = create_order(api, metadata={"customer": "acme", "reason": "none"})["order_handle"]
    response = api.post(f"/orders/{name}/cancel",
                        json={"metadata": {"reason": "customer away", "by": "ops"}})
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["status"] == "cancelled"
    assert ISO_MS_Z.match(order["cancelled_at"])
    assert order["metadata"] == {"customer": "acme", "reason": "customer away", "by": "ops"}
    assert order["cancellation_source"]["source"] == "api"


@pytest.mark.parametrize("body", [None, {}])
def test_action_bodies_may_be_empty(api: TestClient, body: dict[str, object] | None) -> None:
    """No body and an empty object are both accepted."""
    name = create_order(api)["order_handle"]
    response = api.post(f"/orders/{name}/cancel", json=body) if body is not None else api.post(
        f"/orders/{name}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"


def test_disable_and_enable_an_assigned_order(api: TestClient) -> None:
    """disable stamps disabled_at; enable stamps enabled_at and restores the status."""
    order = routed_order(api)
    name, status = order["order_handle"], order["status"]
    disabled = api.post(f"/orders/{name}/disable").json()
    assert disabled["status"] == "disabled" and ISO_MS_Z.match(disabled["disabled_at"])
    enabled = api.post(f"/orders/{name}/enable").json()
    assert enabled["status"] == status
    assert ISO_MS_Z.match(enabled["enabled_at"])
    assert enabled["route_handle"] == order["route_handle"]


def test_disable_and_enable_an_ongoing_order(api: TestClient) -> None:
    """A disabled tracked order comes back ongoing."""
    route, [order] = routed_orders(api, order_body())
    start_route(api, route)
    name = order["order_handle"]
    assert api.post(f"/orders/{name}/disable").json()["status"] == "disabled"
    assert api.post(f"/orders/{name}/enable").json()["status"] == "ongoing"


@pytest.mark.parametrize(("action", "status"), [
    ("enable", "unplanned"), ("disable", "unplanned"), ("complete", "unplanned"),
])
def test_invalid_transitions_name_action_and_status(
    api: TestClient, action: str, status: str
) -> None:
    """An action not allowed from the current status is a 409 naming both."""
    name = create_order(api)["order_handle"]
    body = assert_coded_error(api.post(f"/orders/{name}/{action}"), 409, "invalid_transition")
    assert action in body["title"] and status in body["title"]
    assert api.get(f"/orders/{name}").json()["status"] == status


@pytest.mark.parametrize("action", ["complete", "cancel", "disable", "enable", "reschedule"])
def test_cancelled_orders_never_change(api: TestClient, action: str) -> None:
    """Every action on a cancelled order is a 409 and leaves it as it was."""
    name = routed_order(api)["order_handle"]
    assert api.post(f"/orders/{name}/cancel").status_code == 200
    before = api.get(f"/orders/{name}").json()
    body = {"scheduled_at": "2031-01-01T00:00:00Z"} if action == "reschedule" else None
    response = api.post(f"/orders/{name}/{action}", json=body)
    error = assert_coded_error(response, 409, "invalid_transition")
    assert action in error["title"] and "cancelled" in error["title"]
    assert api.patch(f"/orders/{name}", json={"metadata": {}}).status_code == 409
    assert api.get(f"/orders/{name}").json() == before


def test_completed_orders_never_change(api: TestClient) -> None:
    """A completed order refuses cancel, complete, disable, reschedule and PATCH."""
    name = routed_order(api)["order_handle"]
    assert api.post(f"/orders/{name}/complete").status_code == 200
    before = api.get(f"/orders/{name}").json()
    for action in ("cancel", "complete", "disable", "enable"):
        error = assert_coded_error(api.post(f"/orders/{name}/{action}"), 409,
                                   "invalid_transition")
        assert "completed" in error["title"]
    assert api.post(f"/orders/{name}/reschedule",
                    json={"scheduled_at": "2031-01-01T00:00:00Z"}).status_code == 409
    assert api.patch(f"/orders/{name}", json={"priority": "low"}).status_code == 409
    assert api.get(f"/orders/{name}").json() == before


def test_reschedule_an_unplanned_order(api: TestClient) -> None:
    """An unplanned order gets the new window and rescheduled_marked_at, same attempt."""
    name = create_order(api)["order_handle"]
    response = api.post(f"/orders/{name}/reschedule", json={
        "scheduled_after": "2031-06-01T09:00:00+05:30", "scheduled_at": "2031-06-01T06:00:00Z"})
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["status"] == "unplanned" and order["fulfillment_attempt"] == 0
    assert order["scheduled_after"] == "2031-06-01T03:30:00.000Z"
    assert order["scheduled_at"] == "2031-06-01T06:00:00.000Z"
    assert ISO_MS_Z.match(order["rescheduled_marked_at"])


def test_reschedule_an_assigned_order_takes_it_off_its_route(api: TestClient) -> None:
    """A planned or assigned order goes back to unplanned with the new window."""
    name = routed_order(api)["order_handle"]
    order = api.post(f"/orders/{name}/reschedule",
                     json={"scheduled_at": "2031-06-02T10:00:00Z"}).json()
    assert order["status"] == "unplanned"
    assert order["route_handle"] is None and order["worker_handle"] is None
    assert order["scheduled_at"] == "2031-06-02T10:00:00.000Z"


def test_reschedule_a_started_order_makes_a_new_attempt(api: TestClient) -> None:
    """An ongoing order is cancelled and the next attempt is created unplanned."""
    route, [order] = routed_orders(api, order_body())
    start_route(api, route)
    name = order["order_handle"]
    response = api.post(f"/orders/{name}/reschedule", json={"scheduled_at": "2031-06-03T10:00:00Z"})
    assert response.status_code == 200, response.text
    successor = response.json()
    assert successor["fulfillment_attempt"] == 1 and successor["status"] == "unplanned"
    assert successor["scheduled_at"] == "2031-06-03T10:00:00.000Z"
    assert successor["previous_fulfillments"] == [{"order_handle": name,
                                                   "fulfillment_attempt": 0}]
    first = api.get(f"/orders/{name}", params={"fulfillment_attempt": 0}).json()
    assert first["status"] == "cancelled" and first["rescheduled_marked_at"]


def test_reschedule_window_is_validated(api: TestClient) -> None:
    """scheduled_at is required and scheduled_after may not follow it."""
    name = create_order(api)["order_handle"]
    assert_validation(api.post(f"/orders/{name}/reschedule", json={}), "json", "scheduled_at")
    assert_validation(api.post(f"/orders/{name}/reschedule", json={
        "scheduled_after": "2031-06-02T10:00:00Z", "scheduled_at": "2031-06-01T10:00:00Z"}),
        "json", "scheduled_after")


def test_custom_events_are_appended_to_the_timeline(api: TestClient) -> None:
    """POST .../events answers 201 {} and the events appear in the timeline by time."""
    name = create_order(api)["order_handle"]
    created = api.get(f"/orders/{name}").json()["created_at"]
    response = api.post(f"/orders/{name}/events", json={"events": [
        {"type": "gate_code_entered", "recorded_at": "2099-01-01T10:00:00Z",
         "metadata": {"code": "1234"},
         "location": {"geometry": {"type": "Point", "coordinates": [1.0, 2.0]}, "accuracy": 5}},
        {"type": "customer_called", "recorded_at": "2099-01-01T09:00:00+01:00"},
    ]})
    assert response.status_code == 201, response.text
    assert response.json() == {}
    timeline = api.get(f"/orders/{name}").json()["timeline"]
    assert [e["type"] for e in timeline] == ["order_created", "customer_called",
                                             "gate_code_entered"]
    assert timeline[0]["recorded_at"] == created
    assert timeline[1]["recorded_at"] == "2099-01-01T08:00:00.000Z"
    assert timeline[2]["metadata"] == {"code": "1234"}
    assert timeline[2]["location"]["geometry"]["coordinates"] == [1.0, 2.0]


def test_events_count_and_type_length_limits(api: TestClient) -> None:
    """1 to 100 events of types up to 64 characters."""
    name = create_order(api)["order_handle"]
    event = {"type": "t" * 64, "recorded_at": "2031-01-01T00:00:00Z"}
    assert api.post(f"/orders/{name}/events", json={"events": [event] * 100}).status_code == 201
    assert_validation(api.post(f"/orders/{name}/events", json={"events": [event] * 101}),
                      "json", "events")
    assert_validation(api.post(f"/orders/{name}/events", json={"events": []}), "json", "events")
    too_long = {"type": "t" * 65, "recorded_at": "2031-01-01T00:00:00Z"}
    assert_validation(api.post(f"/orders/{name}/events", json={"events": [event, too_long]}),
                      "json", "events.1.type")
    assert_validation(api.post(f"/orders/{name}/events",
                               json={"events": [{"type": "x", "recorded_at": "soon"}]}),
                      "json", "events.0.recorded_at")
    assert len(api.get(f"/orders/{name}").json()["timeline"]) == 101


def test_selectors_address_pick_drop_and_attempts(api: TestClient) -> None:
    """type, type_index and fulfillment_attempt pick the row each action applies to."""
    name = handle()
    create_orders(api, order_body(order_handle=name, type="pick"),
                  order_body(order_handle=name, type="drop"),
                  order_body(order_handle=name, type="drop", type_index=1))
    picked = api.post(f"/orders/{name}/cancel", params={"type": "pick"}).json()
    assert (picked["type"], picked["status"]) == ("pick", "cancelled")
    second_drop = api.patch(f"/orders/{name}", params={"type": "drop", "type_index": 1},
                            json={"metadata": {"second": True}}).json()
    assert (second_drop["type"], second_drop["type_index"]) == ("drop", 1)
    assert api.get(f"/orders/{name}", params={"type": "drop", "type_index": 0}).json()[
        "metadata"] != {"second": True}
    # Without a selector the active drop with the lowest index answers.
    default = api.get(f"/orders/{name}").json()
    assert (default["type"], default["type_index"], default["status"]) == ("drop", 0, "unplanned")
    assert api.get(f"/orders/{name}", params={"type": "pick"}).json()["status"] == "cancelled"
    # Custom events go to the selected row's timeline only.
    response = api.post(f"/orders/{name}/events", params={"type": "drop", "type_index": 1},
                        json={"events": [{"type": "second_drop_note",
                                          "recorded_at": "2031-01-01T00:00:00Z"}]})
    assert response.status_code == 201
    noted = api.get(f"/orders/{name}", params={"type": "drop", "type_index": 1}).json()
    assert "second_drop_note" in [e["type"] for e in noted["timeline"]]
    assert "second_drop_note" not in [e["type"] for e in default["timeline"]]
    # A re-created pick is attempt 1; attempt 0 stays reachable.
    create_orders(api, order_body(order_handle=name, type="pick"))
    assert api.get(f"/orders/{name}", params={"type": "pick"}).json()["fulfillment_attempt"] == 1
    old = api.get(f"/orders/{name}", params={"type": "pick", "fulfillment_attempt": 0}).json()
    assert old["status"] == "cancelled"


def test_selector_matching_nothing_is_404(api: TestClient) -> None:
    """A selector that matches no row of the handle is a 404."""
    name = create_order(api)["order_handle"]
    for params in ({"type": "pick"}, {"type_index": 3}, {"fulfillment_attempt": 2}):
        response = api.post(f"/orders/{name}/cancel", params=params)
        assert response.status_code == 404, (params, response.text)
    assert api.get(f"/orders/{name}").json()["status"] == "unplanned"


@pytest.mark.parametrize(("params", "field"), [
    ({"type": "both"}, "type"), ({"type_index": "-1"}, "type_index"),
    ({"fulfillment_attempt": "first"}, "fulfillment_attempt"),
])
def test_bad_selectors_are_422(api: TestClient, params: dict[str, str], field: str) -> None:
    """Malformed selector values are 422s naming the query parameter."""
    name = create_order(api)["order_handle"]
    assert_validation(api.post(f"/orders/{name}/cancel", params=params), "query", field)
    assert_validation(api.get(f"/orders/{name}", params=params), "query", field)
