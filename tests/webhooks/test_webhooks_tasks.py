"""Task webhooks (contract 5.2): ``task_created``, ``task_updated`` and ``task_completed``
reach a real receiver as order envelopes carrying the task and the order's schedule."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from tests.factories import create_orders_body, order_body

from .helpers import all_final, create_endpoint, drain
from .receiver import Receiver


def _received(receiver: Receiver) -> list[dict[str, Any]]:
    return [event for request in receiver.requests for event in request.events()]


def _task_events(receiver: Receiver, handle: str) -> list[dict[str, Any]]:
    return [e for e in _received(receiver)
            if e["type"] == "order" and e["data"]["order_handle"] == handle
            and e["data"]["value"].startswith("task_")]


def test_task_lifecycle_reaches_the_receiver(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """tasks_list on creation and POST .../tasks send task_created per task; a PATCH sends
    task_updated, and the PATCH that completes a task task_completed; each carries the
    task as the API answers it and the order's scheduled_at."""
    endpoint = create_endpoint(api, receiver.url, event_types=["order"])
    order = order_body(tasks_list={"tasks": [{"label": "order_summary"}]})
    created = api.post("/orders/", json=create_orders_body(order))
    assert created.status_code == 201, created.text
    handle = order["order_handle"]
    added = api.post(f"/orders/{handle}/tasks", json={
        "tasks": [{"label": "order_billing_summary", "priority": "high"}]})
    assert added.status_code == 201, added.text
    task_id = added.json()["tasks"][0]["task_id"]
    path = f"/orders/{handle}/tasks/{task_id}"
    assert api.patch(path, json={"status": "ongoing", "description": "count"}).status_code == 200
    done = api.patch(path, json={"status": "completed"})
    assert done.status_code == 200
    # Patching a completed task again is an update, not a second completion.
    again = api.patch(path, json={"metadata": {"late": True}})
    assert again.status_code == 200
    drain(runner, all_final(api, endpoint["id"], 5))

    events = _task_events(receiver, handle)
    assert [e["data"]["value"] for e in events] == [
        "task_created", "task_created", "task_updated", "task_completed", "task_updated"]
    labels = [e["data"]["task"]["label"] for e in events]
    assert labels == ["order_summary"] + ["order_billing_summary"] * 4
    assert events[3]["data"]["task"] == done.json()
    assert events[4]["data"]["task"] == again.json()
    assert events[2]["data"]["task"]["status"] == "ongoing"
    scheduled_at = api.get(f"/orders/{handle}").json()["scheduled_at"]
    for event in events:
        assert event["data"]["scheduled_at"] == scheduled_at
        assert event["data"]["status"] == "unplanned"
        assert event["data"]["route_handle"] is None
        assert event["recorded_at"] == event["data"]["task"]["updated_at"]


def test_task_events_are_filtered_and_in_history(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """An endpoint subscribed to order.task_completed gets only that; the order's webhook
    history lists it by value, with its delivery."""
    endpoint = create_endpoint(api, receiver.url, event_types=["order.task_completed"])
    order = order_body()
    assert api.post("/orders/", json=create_orders_body(order)).status_code == 201
    handle = order["order_handle"]
    task_id = api.post(f"/orders/{handle}/tasks", json={"tasks": [{"label": "x"}]}).json()[
        "tasks"][0]["task_id"]
    assert api.patch(f"/orders/{handle}/tasks/{task_id}",
                     json={"status": "completed"}).status_code == 200
    drain(runner, all_final(api, endpoint["id"], 1))
    assert [e["data"]["value"] for e in _received(receiver)] == ["task_completed"]
    history = api.get(f"/orders/{handle}/webhooks", params={"value": "task_completed"})
    assert history.status_code == 200, history.text
    listed = history.json()["webhooks"]
    assert [w["data"]["value"] for w in listed] == ["task_completed"]
    assert listed[0]["delivery_http_status"] == 200


def test_refused_tasks_send_nothing(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """Tasks that are not stored (a batch refused for an unknown task definition, a PATCH
    with a bad status) are not announced."""
    endpoint = create_endpoint(api, receiver.url)
    order = order_body(tasks_list={"task_definition_id": "nope",
                                   "tasks": [{"label": "order_summary"}]})
    refused = api.post("/orders/", json=create_orders_body(order))
    assert refused.status_code == 422, refused.text
    kept = order_body()
    assert api.post("/orders/", json=create_orders_body(kept)).status_code == 201
    task_id = api.post(f"/orders/{kept['order_handle']}/tasks",
                       json={"tasks": [{"label": "x"}]}).json()["tasks"][0]["task_id"]
    bad = api.patch(f"/orders/{kept['order_handle']}/tasks/{task_id}",
                    json={"status": "exploded"})
    assert bad.status_code == 422
    drain(runner, all_final(api, endpoint["id"], 1))
    values = [e["data"]["value"] for e in _received(receiver)
              if e["type"] == "order"]
    assert values == ["task_created"]
