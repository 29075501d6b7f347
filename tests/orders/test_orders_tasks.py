"""Order tasks and task definitions through the API (contract 2.4, 3.8)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.orders.helpers import (
    ISO_MS_Z,
    assert_coded_error,
    assert_http_error,
    assert_validation,
    create_order,
    handle,
)

TASK_FIELDS = {"task_id", "label", "task_definition_id", "description", "metadata", "priority",
               "status", "created_at", "updated_at", "attachments"}


def _tasks(order_handle: str) -> str:
    return f"/orders/{order_handle}/tasks"


def _add(api: TestClient, order_handle: str, *tasks: dict[str, Any]) -> list[dict[str, Any]]:
    response = api.post(_tasks(order_handle), json={"tasks": list(tasks)})
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["tasks"]
    return created


def _definition(api: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"label": "Delivery checklist",
            "tasks": [{"label": "order_summary"}, {"label": "photo", "priority": "high"}],
            **fields}
    response = api.post("/orders/tasks-definitions", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_and_list_tasks(api: TestClient) -> None:
    """Posted tasks come back with status created and are listed oldest first."""
    order = create_order(api)["order_handle"]
    created = _add(api, order, {"label": "order_summary", "description": "Check items",
                                "metadata": {"k": 1}, "priority": "medium"},
                   {"label": "order_billing_summary"})
    assert [t["label"] for t in created] == ["order_summary", "order_billing_summary"]
    first = created[0]
    assert set(first) == TASK_FIELDS
    assert first["status"] == "created" and first["priority"] == "medium"
    assert first["metadata"] == {"k": 1} and first["attachments"] == []
    assert ISO_MS_Z.match(first["created_at"])
    listed = api.get(_tasks(order)).json()
    assert [t["task_id"] for t in listed["tasks"]] == [t["task_id"] for t in created]


def test_update_task_appends_attachments(api: TestClient) -> None:
    """PATCH changes fields and appends attachments to the existing ones."""
    order = create_order(api)["order_handle"]
    task_id = _add(api, order, {"label": "photo"})[0]["task_id"]
    url = f"{_tasks(order)}/{task_id}"
    first = api.patch(url, json={"status": "ongoing", "attachments": [{"url": "a"}]})
    assert first.status_code == 200, first.text
    second = api.patch(url, json={"status": "completed", "label": "proof",
                                  "priority": "none", "attachments": [{"url": "b"}]})
    body = second.json()
    assert body["status"] == "completed" and body["label"] == "proof"
    assert body["priority"] == "none"
    assert body["attachments"] == [{"url": "a"}, {"url": "b"}]


def test_update_task_validation(api: TestClient) -> None:
    """A status outside ongoing/completed/cancelled or 11 attachments is a 422."""
    order = create_order(api)["order_handle"]
    task_id = _add(api, order, {"label": "photo"})[0]["task_id"]
    url = f"{_tasks(order)}/{task_id}"
    assert_validation(api.patch(url, json={"status": "created"}), "json", "status")
    assert_validation(api.patch(url, json={"attachments": [{}] * 11}), "json", "attachments")
    assert_validation(api.post(_tasks(order), json={"tasks": [{}]}), "json", "tasks.0.label")


def test_delete_task(api: TestClient) -> None:
    """DELETE answers 204 and the task is gone (a second delete is order_task_not_found)."""
    order = create_order(api)["order_handle"]
    task_id = _add(api, order, {"label": "photo"})[0]["task_id"]
    url = f"{_tasks(order)}/{task_id}"
    assert api.delete(url).status_code == 204
    assert api.get(_tasks(order)).json() == {"tasks": []}
    assert_coded_error(api.delete(url), 404, "order_task_not_found")
    assert_coded_error(api.patch(url, json={"label": "x"}), 404, "order_task_not_found")


def test_unknown_order_is_order_not_found(api: TestClient) -> None:
    """Every task operation on an unknown order is a 404 order_not_found."""
    url = _tasks(handle("missing"))
    assert_coded_error(api.get(url), 404, "order_not_found")
    assert_coded_error(api.post(url, json={"tasks": [{"label": "x"}]}), 404, "order_not_found")
    assert_coded_error(api.patch(f"{url}/t1", json={}), 404, "order_not_found")
    assert_coded_error(api.delete(f"{url}/t1"), 404, "order_not_found")


def test_fulfillment_attempt_selects_the_attempt(api: TestClient) -> None:
    """Tasks belong to one attempt; an attempt that does not exist is order_not_found."""
    order = create_order(api)["order_handle"]
    _add(api, order, {"label": "photo"})
    assert len(api.get(_tasks(order), params={"fulfillment_attempt": 0}).json()["tasks"]) == 1
    assert_coded_error(api.get(_tasks(order), params={"fulfillment_attempt": 3}), 404,
                       "order_not_found")


def test_tasks_of_another_account_are_not_found(api: TestClient, other_tenant: Tenant) -> None:
    """Another account sees neither the order's tasks nor a task by id."""
    order = create_order(api)["order_handle"]
    task_id = _add(api, order, {"label": "photo"})[0]["task_id"]
    other = other_tenant.client
    assert_coded_error(other.get(_tasks(order)), 404, "order_not_found")
    other_order = create_order(other)["order_handle"]
    assert_coded_error(other.delete(f"{_tasks(other_order)}/{task_id}"), 404,
                       "order_task_not_found")
    assert len(api.get(_tasks(order)).json()["tasks"]) == 1


def test_unauthenticated_is_401(anon: TestClient) -> None:
    """Task and definition endpoints need credentials."""
    assert_http_error(anon.get(_tasks("x")), 401)
    assert_http_error(anon.get("/orders/tasks-definitions"), 401)


def test_definition_crud(api: TestClient) -> None:
    """A definition is created, read, changed and deleted ({} then 404)."""
    created = _definition(api, metadata={"team": "a"})
    assert created["tasks"] == [{"label": "order_summary"}, {"label": "photo", "priority": "high"}]
    assert created["ops_group_handle"] is None and created["metadata"] == {"team": "a"}
    url = f"/orders/tasks-definitions/{created['task_definition_id']}"
    assert api.get(url).json() == created
    patched = api.patch(url, json={"label": "Renamed", "ops_group_handle": "default"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["label"] == "Renamed"
    assert patched.json()["ops_group_handle"] == "default"
    deleted = api.delete(url)
    assert deleted.status_code == 200 and deleted.json() == {}
    assert_http_error(api.get(url), 404)
    assert_http_error(api.delete(url), 404)


def test_definition_unknown_ops_group(api: TestClient) -> None:
    """An unknown ops group is a 400 ops_group_not_defined on create and update."""
    response = api.post("/orders/tasks-definitions",
                        json={"label": "x", "tasks": [{"label": "y"}],
                              "ops_group_handle": "nowhere"})
    assert_coded_error(response, 400, "ops_group_not_defined")
    url = f"/orders/tasks-definitions/{_definition(api)['task_definition_id']}"
    assert_coded_error(api.patch(url, json={"ops_group_handle": "nowhere"}), 400,
                       "ops_group_not_defined")
    assert_validation(api.post("/orders/tasks-definitions", json={"label": "x"}), "json",
                      "tasks")


def test_list_definitions_search_and_pages(api: TestClient) -> None:
    """search_term matches labels; limit pages with a token; limit over 100 is a 422."""
    for label in ("Alpha one", "Alpha two", "Beta"):
        _definition(api, label=label)
    found = api.get("/orders/tasks-definitions", params={"search_term": "alpha"}).json()
    assert sorted(d["label"] for d in found["task_definitions"]) == ["Alpha one", "Alpha two"]
    first = api.get("/orders/tasks-definitions", params={"limit": 2}).json()
    assert len(first["task_definitions"]) == 2 and first["pagination_token"]
    rest = api.get("/orders/tasks-definitions",
                   params={"limit": 2, "pagination_token": first["pagination_token"]}).json()
    assert len(rest["task_definitions"]) == 1 and rest["pagination_token"] is None
    seen = {d["task_definition_id"] for d in first["task_definitions"] + rest["task_definitions"]}
    assert len(seen) == 3
    assert_validation(api.get("/orders/tasks-definitions", params={"limit": 101}), "query",
                      "limit")
    by_group = api.get("/orders/tasks-definitions", params={"ops_group_handle": "default"})
    assert by_group.json()["task_definitions"] == []


def test_definitions_are_per_account(api: TestClient, other_tenant: Tenant) -> None:
    """Another account cannot list, read, change or delete a definition."""
    created = _definition(api)
    url = f"/orders/tasks-definitions/{created['task_definition_id']}"
    other = other_tenant.client
    assert other.get("/orders/tasks-definitions").json()["task_definitions"] == []
    assert_http_error(other.get(url), 404)
    assert_http_error(other.patch(url, json={"label": "x"}), 404)
    assert_http_error(other.delete(url), 404)
    order = create_order(other)["order_handle"]
    response = other.post(_tasks(order), json={
        "tasks": [{"label": "x", "task_definition_id": created["task_definition_id"]}]})
    assert_validation(response, "json", "tasks.0.task_definition_id")


def test_tasks_from_a_definition(api: TestClient) -> None:
    """An item naming a task definition adds a copy of that definition's tasks."""
    definition = _definition(api)
    order = create_order(api)["order_handle"]
    created = _add(api, order, {"label": "checklist",
                                "task_definition_id": definition["task_definition_id"]},
                   {"label": "extra"})
    assert [t["label"] for t in created] == ["order_summary", "photo", "extra"]
    assert created[1]["priority"] == "high"
    assert {t["task_definition_id"] for t in created[:2]} == {definition["task_definition_id"]}
    assert created[2]["task_definition_id"] is None
