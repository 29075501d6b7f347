"""Contract section 5.1 and 5.2: every order webhook envelope Routekeeper records (and
delivers) has the required fields with their types, a known value and the order's status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.contract.spec import answers, conforms
from tests.factories import create_orders_body, order_body
from tests.tracking.api_helpers import outbox, register
from tests.webhooks.helpers import all_final, create_endpoint, drain, fast_settings, make_runner
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording HTTP receiver on loopback, standing in for a HyperTrack client's URL."""
    server = Receiver()
    yield server
    server.close()


def test_lifecycle_envelopes_conform(api: TestClient, db: Database, tenant: Tenant) -> None:
    """assigned, started, updated, completed: each envelope conforms and carries the device."""
    assert api.post("/workers/", json={"worker_handle": "fay"}).status_code == 201
    register(api, "fay-phone", "fay")
    route = answers("track", api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "fay", "orders": [order_body()]}))
    handle = route["orders"][0]["order_handle"]
    api.patch(f"/orders/{handle}", json={"metadata": {"x": 1}})
    api.post(f"/orders/{handle}/complete")
    envelopes = outbox(db, tenant.account_id, order_handle=handle)
    assert {"assigned", "started", "updated", "completed"} <= \
        {e["data"]["value"] for e in envelopes}
    for envelope in envelopes:
        conforms("WebhookEvent", envelope)
        assert envelope["device_id"] == "fay-phone"


def test_task_webhooks_as_a_receiver_gets_them(
    api: TestClient, db: Database, settings: Settings, receiver: Receiver
) -> None:
    """task_created, task_updated and task_completed arrive as JSON arrays of order
    envelopes (5.1) whose fields conform to 5.2, each with the task (OrderTaskResponse)."""
    endpoint = create_endpoint(api, receiver.url)
    order = order_body(tasks_list={"tasks": [{"label": "order_summary"}]})
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    handle = order["order_handle"]
    task_id = answers("list_tasks", api.get(f"/orders/{handle}/tasks"))["tasks"][0]["task_id"]
    path = f"/orders/{handle}/tasks/{task_id}"
    answers("update_task", api.patch(path, json={"status": "ongoing"}))
    answers("update_task", api.patch(path, json={"status": "completed"}))
    drain(make_runner(db, fast_settings(settings)), all_final(api, endpoint["id"], 3))
    events = []
    for request in receiver.requests:
        assert request.headers["content-type"].startswith("application/json")
        assert request.headers["x-hypertrack-signature"]
        events += request.events()
    assert [e["data"]["value"] for e in events] == [
        "task_created", "task_updated", "task_completed"]
    for event in events:
        conforms("WebhookEvent", event)
        conforms("TaskWebhookData", event["data"])
        assert event["type"] == "order" and event["data"]["order_handle"] == handle
        assert event["data"]["task"]["task_id"] == task_id
    # The receiver closes with the test: later tests' job runners must not retry to it.
    assert api.delete(f"/webhooks/endpoints/{endpoint['id']}").status_code == 200
