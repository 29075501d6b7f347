"""Contract section 2.4: one order's detail, changes, actions, events, webhooks and tasks."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.testclient import TestClient

from tests.contract.spec import answers, conforms, fails
from tests.factories import create_orders_body, order_body


def _tracked(api: TestClient) -> str:
    assert api.post("/workers/", json={"worker_handle": "dee"}).status_code == 201
    route = answers("track", api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "dee", "orders": [order_body()]}))
    return str(route["orders"][0]["order_handle"])


def test_detail_patch_events_and_actions(api: TestClient) -> None:
    """Every single-order operation answers its status with the detail shape."""
    handle = _tracked(api)
    conforms("OrderDetail", answers("get_order", api.get(f"/orders/{handle}")))
    patched = answers("patch_order", api.patch(f"/orders/{handle}", json={
        "metadata": {"gate": "B"}}))
    assert patched["metadata"]["gate"] == "B"
    event = {"type": "photo", "recorded_at": datetime.now(UTC).isoformat()}
    assert answers("order_events", api.post(f"/orders/{handle}/events",
                                            json={"events": [event]})) == {}
    disabled = answers("disable_order", api.post(f"/orders/{handle}/disable"))
    assert disabled["status"] == "disabled" and disabled["disabled_at"]
    enabled = answers("enable_order", api.post(f"/orders/{handle}/enable"))
    assert enabled["status"] == "ongoing" and enabled["enabled_at"]
    completed = answers("complete_order", api.post(f"/orders/{handle}/complete"))
    assert completed["status"] == "completed" and completed["completed_at"]
    history = answers("order_webhooks", api.get(f"/orders/{handle}/webhooks"))
    assert set(history) == {"webhooks", "pagination_token"}


def test_cancel_reschedule_and_tasks(api: TestClient) -> None:
    """cancel merges metadata; reschedule answers the detail; tasks are created and listed."""
    first, second = order_body(), order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(first, second)))
    cancelled = answers("cancel_order", api.post(f"/orders/{first['order_handle']}/cancel",
                                                 json={"metadata": {"why": "closed"}}))
    assert cancelled["status"] == "cancelled" and cancelled["metadata"]["why"] == "closed"
    moved = answers("reschedule_order", api.post(
        f"/orders/{second['order_handle']}/reschedule",
        json={"scheduled_at": second["scheduled_at"]}))
    conforms("OrderDetail", moved)
    created = answers("create_tasks", api.post(f"/orders/{second['order_handle']}/tasks",
                                               json={"tasks": [{"label": "order_summary"}]}))
    for task in created["tasks"]:
        conforms("Task", task)
    listed = answers("list_tasks", api.get(f"/orders/{second['order_handle']}/tasks"))
    assert [t["label"] for t in listed["tasks"]] == ["order_summary"]


def test_unknown_order_everywhere_is_404(api: TestClient) -> None:
    """Every per-order operation answers 404 for an unknown handle."""
    fails("get_order", api.get("/orders/ghost"), 404, "HTTPError")
    fails("cancel_order", api.post("/orders/ghost/cancel"), 404, "HTTPError")
    fails("patch_order", api.patch("/orders/ghost", json={}), 404, "HTTPError")


def test_attachments_on_patch_and_events_are_kept(api: TestClient) -> None:
    """PATCH attachments (image, note, signature) and a custom event's come back in the
    detail, each with an attachment_id; the event's are on its timeline entry too."""
    handle = _tracked(api)
    patched = answers("patch_order", api.patch(f"/orders/{handle}", json={"attachments": [
        {"type": "image", "url": "https://x.example/p.jpg", "caption": "door"},
        {"type": "note", "data": "ring twice"}]}))
    assert [a["type"] for a in patched["attachments"]] == ["image", "note"]
    event = {"type": "signed", "recorded_at": datetime.now(UTC).isoformat(),
             "attachments": [{"type": "signature", "url": "https://x.example/s.png"}]}
    answers("order_events", api.post(f"/orders/{handle}/events", json={"events": [event]}))
    detail = answers("get_order", api.get(f"/orders/{handle}"))
    assert [a["type"] for a in detail["attachments"]] == ["image", "note", "signature"]
    entry = next(e for e in detail["timeline"] if e["type"] == "signed")
    assert entry["attachments"] == detail["attachments"][2:]
    fails("patch_order", api.patch(f"/orders/{handle}", json={"attachments": [
        {"type": "image"}]}), 422, "ValidationError")


def test_tasks_list_fills_order_tasks(api: TestClient) -> None:
    """tasks_list on creation makes the order's tasks from a task definition; order.tasks
    is filled in the created order, the list and the detail."""
    definition = api.post("/orders/tasks-definitions", json={
        "label": "drop-off", "tasks": [{"label": "order_summary"}]}).json()
    order = order_body(tasks_list={"task_definition_id": definition["task_definition_id"]})
    (created,) = answers("create_orders", api.post(
        "/orders/", json=create_orders_body(order)))["orders"]
    conforms("Order", created)
    assert [t["label"] for t in created["tasks"]] == ["order_summary"]
    detail = answers("get_order", api.get(f"/orders/{order['order_handle']}"))
    assert detail["tasks"] == created["tasks"]
    listed = answers("list_tasks", api.get(f"/orders/{order['order_handle']}/tasks"))
    assert listed["tasks"] == created["tasks"]
