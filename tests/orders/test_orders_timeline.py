"""GET /orders/{handle}: the detail shape and its timeline (order_created, then actions)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.orders.helpers import ISO_MS_Z, create_order, routed_order

# Contract section 3.3: keys the detail adds to the Order shape.
DETAIL_KEYS = {
    "polyline", "start_location", "end_location", "visited_destination",
    "completed_at_destination", "cancelled_at_destination", "deviation_from_destination",
    "service_started_at", "service_ended_at", "parking", "checkin", "service_area", "timeline",
    "previous_fulfillments", "images", "attachments", "order_score", "worker_name",
    "billing_details", "metrics", "timesheets", "agent", "candidate_devices", "device_sessions",
}


def test_detail_shape_starts_with_order_created(api: TestClient) -> None:
    """A new order's detail has every detail key and one order_created entry."""
    order = create_order(api, metadata={"customer": "acme"})
    detail = api.get(f"/orders/{order['order_handle']}").json()
    assert set(detail) >= DETAIL_KEYS
    assert {k: detail[k] for k in order} == order
    assert detail["previous_fulfillments"] == [] and detail["attachments"] == []
    [created] = detail["timeline"]
    assert created["type"] == "order_created"
    assert created["recorded_at"] == order["created_at"]
    assert created["order_handle"] == order["order_handle"]
    assert created["fulfillment_attempt"] == 0
    assert created["metadata"] == {"customer": "acme"}
    assert created["destination_location"] == order["destination"]["geometry"]


def test_actions_append_to_the_timeline_in_order(api: TestClient) -> None:
    """Each action adds its entry after order_created, in time order."""
    name = routed_order(api)["order_handle"]
    assert api.patch(f"/orders/{name}", json={"priority": "high"}).status_code == 200
    assert api.post(f"/orders/{name}/disable").status_code == 200
    assert api.post(f"/orders/{name}/enable").status_code == 200
    assert api.post(f"/orders/{name}/complete").status_code == 200
    timeline = api.get(f"/orders/{name}").json()["timeline"]
    types = [e["type"] for e in timeline]
    assert types[0] == "order_created"
    ours = [t for t in types if t in {"order_updated", "order_disabled", "order_enabled",
                                      "order_completed"}]
    assert ours == ["order_updated", "order_disabled", "order_enabled", "order_completed"]
    assert types[-1] == "order_completed"
    stamps = [e["recorded_at"] for e in timeline]
    assert all(ISO_MS_Z.match(s) for s in stamps)
    assert stamps == sorted(stamps)
    updated = next(e for e in timeline if e["type"] == "order_updated")
    assert updated["fields"] == ["priority"]


def test_cancel_and_reschedule_entries(api: TestClient) -> None:
    """reschedule and cancel record their entries with what changed."""
    name = create_order(api)["order_handle"]
    api.post(f"/orders/{name}/reschedule", json={"scheduled_at": "2031-08-01T10:00:00Z"})
    api.post(f"/orders/{name}/cancel")
    timeline = api.get(f"/orders/{name}").json()["timeline"]
    assert [e["type"] for e in timeline] == ["order_created", "order_rescheduled",
                                             "order_cancelled"]
    assert timeline[1]["scheduled_at"] == "2031-08-01T10:00:00.000Z"
    assert timeline[2]["cancellation_source"]["source"] == "api"


def test_same_millisecond_entries_keep_lifecycle_order(api: TestClient) -> None:
    """Entries written together (planned and assigned) come in lifecycle order, every read."""
    name = routed_order(api)["order_handle"]
    api.post(f"/orders/{name}/events", json={"events": [
        {"type": kind, "recorded_at": "2099-01-01T00:00:00Z"} for kind in ("b", "a", "c")]})
    reads = [api.get(f"/orders/{name}").json()["timeline"] for _ in range(5)]
    assert all(read == reads[0] for read in reads)
    types = [e["type"] for e in reads[0]]
    assert types[:3] == ["order_created", "order_planned", "order_assigned"]
    assert sorted(types[3:]) == ["a", "b", "c"]


def test_timeline_window(api: TestClient) -> None:
    """from_time and to_time keep only the entries inside the window (both ends included)."""
    name = create_order(api)["order_handle"]
    api.post(f"/orders/{name}/events", json={"events": [
        {"type": f"e{hour}", "recorded_at": f"2099-01-01T{hour:02d}:00:00Z"}
        for hour in (8, 9, 10, 11)]})

    def types(**params: str) -> list[str]:
        response = api.get(f"/orders/{name}", params=params)
        assert response.status_code == 200, response.text
        return [e["type"] for e in response.json()["timeline"]]

    assert types(from_time="2099-01-01T09:00:00Z", to_time="2099-01-01T10:00:00Z") == [
        "e9", "e10"]
    assert types(from_time="2099-01-01T15:30:00+05:30") == ["e10", "e11"]
    assert types(to_time="2099-01-01T08:00:00Z")[-1] == "e8"
    assert types(to_time="2099-01-01T08:00:00Z")[0] == "order_created"
    assert len(types()) == 5


def test_each_attempt_has_its_own_timeline(api: TestClient) -> None:
    """A re-created handle starts a fresh timeline; the old attempt keeps its own."""
    name = create_order(api)["order_handle"]
    api.post(f"/orders/{name}/cancel")
    create_order(api, order_handle=name)
    current = api.get(f"/orders/{name}").json()["timeline"]
    old = api.get(f"/orders/{name}", params={"fulfillment_attempt": 0}).json()["timeline"]
    assert [e["type"] for e in current] == ["order_created"]
    assert current[0]["fulfillment_attempt"] == 1
    assert [e["type"] for e in old] == ["order_created", "order_cancelled"]


def test_unknown_order_is_404(api: TestClient) -> None:
    """A handle the account never used is a 404 HTTPError naming it."""
    response = api.get("/orders/never-created")
    assert response.status_code == 404
    assert response.json() == {"detail": {"description": "Order not found for handle "
                                                         "never-created"},
                               "message": "Order not found"}
