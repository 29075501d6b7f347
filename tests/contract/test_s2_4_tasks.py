"""Contract section 2.4 (order tasks and task definitions) and 3.8: every task operation with
a HyperTrack-shaped request, its answer's fields and enums, and its error shapes."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.contract.spec import answers, conforms, fails
from tests.factories import create_orders_body, order_body


def _order(api: TestClient) -> str:
    order = order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    return str(order["order_handle"])


def test_order_task_update_and_delete(api: TestClient) -> None:
    """PATCH changes a task (status, priority, metadata, attachments appended) and answers
    the task; DELETE removes it; unknown tasks and orders are the contract's coded 404s."""
    handle = _order(api)
    created = answers("create_tasks", api.post(f"/orders/{handle}/tasks", json={
        "tasks": [{"label": "order_summary", "priority": "low"}]}))
    conforms("TaskList", created)
    task_id = created["tasks"][0]["task_id"]
    assert created["tasks"][0]["status"] == "created"
    path = f"/orders/{handle}/tasks/{task_id}"
    updated = answers("update_task", api.patch(path, json={
        "status": "ongoing", "priority": "high", "metadata": {"step": 1},
        "attachments": [{"type": "note", "data": "left at the door"}]}))
    assert updated["status"] == "ongoing" and updated["priority"] == "high"
    assert updated["metadata"] == {"step": 1} and len(updated["attachments"]) == 1
    again = answers("update_task", api.patch(path, json={
        "status": "completed", "attachments": [{"type": "note", "data": "signed"}]}))
    assert again["status"] == "completed" and len(again["attachments"]) == 2
    listed = answers("list_tasks", api.get(f"/orders/{handle}/tasks"))
    conforms("TaskList", listed)
    bad = fails("update_task", api.patch(path, json={"status": "exploded"}), 422,
                "ValidationError")
    assert bad["detail"]
    assert answers("delete_task", api.delete(path)) is None
    gone = fails("delete_task", api.delete(path), 404, "Error")
    assert gone["code"] == "order_task_not_found"
    missing = fails("update_task", api.patch(f"/orders/ghost/tasks/{task_id}",
                                             json={"status": "ongoing"}), 404, "Error")
    assert missing["code"] == "order_not_found"


def test_task_definitions_lifecycle(api: TestClient) -> None:
    """Create, list (with a search term), read, update and delete a task definition; a
    definition's tasks go onto an order; unknown ids are 404 and unknown ops groups 400."""
    created = answers("create_task_definition", api.post("/orders/tasks-definitions", json={
        "label": "Delivery checklist", "metadata": {"team": "north"},
        "tasks": [{"label": "order_summary", "priority": "medium"},
                  {"label": "order_billing_summary"}]}))
    definition_id = created["task_definition_id"]
    assert [t["label"] for t in created["tasks"]] == ["order_summary", "order_billing_summary"]
    page = answers("list_task_definitions", api.get("/orders/tasks-definitions",
                                                    params={"search_term": "checklist"}))
    assert definition_id in [d["task_definition_id"] for d in page["task_definitions"]]
    path = f"/orders/tasks-definitions/{definition_id}"
    assert answers("get_task_definition", api.get(path))["label"] == "Delivery checklist"
    renamed = answers("update_task_definition", api.patch(path, json={"label": "Checklist"}))
    assert renamed["label"] == "Checklist"
    handle = _order(api)
    from_definition = answers("create_tasks", api.post(f"/orders/{handle}/tasks", json={
        "tasks": [{"label": "ignored", "task_definition_id": definition_id}]}))
    assert len(from_definition["tasks"]) == 2
    assert all(t["task_definition_id"] == definition_id for t in from_definition["tasks"])
    unknown_group = fails("create_task_definition", api.post(
        "/orders/tasks-definitions", json={"label": "x", "tasks": [{"label": "y"}],
                                           "ops_group_handle": "nowhere"}), 400, "Error")
    assert unknown_group["code"] == "ops_group_not_defined"
    fails("create_task_definition", api.post("/orders/tasks-definitions",
                                             json={"label": "no tasks"}), 422,
          "ValidationError")
    assert answers("delete_task_definition", api.delete(path)) == {}
    # The contract declares no shape for these 404s: the API's plain HTTPError.
    fails("get_task_definition", api.get(path), 404, "HTTPError")
    fails("update_task_definition", api.patch(path, json={"label": "z"}), 404, "HTTPError")
    fails("delete_task_definition", api.delete(path), 404, "HTTPError")
    fails("list_task_definitions", api.get("/orders/tasks-definitions",
                                           params={"limit": 101}), 422, "ValidationError")
