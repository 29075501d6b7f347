"""Attachments and tasks a client sends with an order are kept (issue 15 item 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import create_orders_body, order_body
from tests.orders.helpers import (
    ISO_MS_Z,
    assert_validation,
    create_order,
    create_worker,
    routed_order,
)

IMAGE = {"type": "image", "url": "https://files.example.com/door.jpg", "caption": "Front door"}
NOTE = {"type": "note", "data": "Left with the neighbour"}
SIGNATURE = {"type": "signature", "url": "https://files.example.com/sig.png"}


def _event(**fields: Any) -> dict[str, Any]:
    return {"type": "proof_of_delivery", "recorded_at": datetime.now(UTC).isoformat(), **fields}


def test_patch_attachments_are_stored_and_returned(api: TestClient) -> None:
    """PATCH with image, note and signature attachments: each comes back with an id, in
    the detail, and appended by a second PATCH; images lists the image URLs."""
    order = routed_order(api)["order_handle"]
    first = api.patch(f"/orders/{order}", json={"attachments": [IMAGE, NOTE]})
    assert first.status_code == 200, first.text
    second = api.patch(f"/orders/{order}", json={"attachments": [SIGNATURE],
                                                 "metadata": {"k": 1}})
    assert second.status_code == 200, second.text
    detail = api.get(f"/orders/{order}").json()
    kept = detail["attachments"]
    assert [a["type"] for a in kept] == ["image", "note", "signature"]
    assert kept[0]["url"] == IMAGE["url"] and kept[0]["caption"] == "Front door"
    assert kept[0]["image"] == {"url": IMAGE["url"], "caption": "Front door"}
    assert kept[1]["data"] == NOTE["data"] and kept[1]["note"] == {"data": NOTE["data"]}
    assert kept[2]["signature"] == {"url": SIGNATURE["url"]}
    assert len({a["attachment_id"] for a in kept}) == 3
    assert all(ISO_MS_Z.match(a["recorded_at"]) for a in kept)
    assert detail["images"] == [IMAGE["url"]]
    assert second.json()["attachments"] == kept


def test_keyed_attachments_are_taken_too(api: TestClient) -> None:
    """The keyed form ({"image": {...}}) is stored like the flat one."""
    order = create_order(api)["order_handle"]
    response = api.patch(f"/orders/{order}", json={"attachments": [
        {"image": {"url": "https://x.example/a.jpg"}}, {"note": {"data": "hello"}}]})
    assert response.status_code == 200, response.text
    kept = response.json()["attachments"]
    assert [(a["type"], a.get("url"), a.get("data")) for a in kept] == [
        ("image", "https://x.example/a.jpg", None), ("note", None, "hello")]


@pytest.mark.parametrize(
    ("attachments", "where"),
    [
        ([{"type": "image"}], "attachments.0"),
        ([{"type": "note", "url": "https://x"}], "attachments.0"),
        ([{"type": "video", "url": "https://x"}], "attachments.0.type"),
        ([{"url": "https://x"}], "attachments.0"),
        ([{"image": {"url": "a"}, "note": {"data": "b"}}], "attachments.0"),
        ([{"type": "note", "data": "nul\u0000"}], "attachments.0.data"),
        ([NOTE] * 11, "attachments"),
    ],
)
def test_bad_attachments_are_422_and_change_nothing(
    api: TestClient, attachments: list[dict[str, Any]], where: str
) -> None:
    """A malformed attachment is a 422 naming it; nothing of the PATCH is kept."""
    order = create_order(api)["order_handle"]
    response = api.patch(f"/orders/{order}", json={"attachments": attachments,
                                                   "metadata": {"changed": True}})
    assert_validation(response, "json", where)
    detail = api.get(f"/orders/{order}").json()
    assert detail["attachments"] == [] and "changed" not in detail["metadata"]


def test_custom_event_attachments_are_stored_and_returned(api: TestClient) -> None:
    """A custom event's attachments are in its timeline entry and in the order's."""
    order = create_order(api)["order_handle"]
    response = api.post(f"/orders/{order}/events", json={"events": [
        _event(attachments=[SIGNATURE, IMAGE]), _event(type="note_only")]})
    assert response.status_code == 201, response.text
    detail = api.get(f"/orders/{order}").json()
    entry = next(e for e in detail["timeline"] if e["type"] == "proof_of_delivery")
    assert [a["type"] for a in entry["attachments"]] == ["signature", "image"]
    assert detail["attachments"] == entry["attachments"]
    assert detail["images"] == [IMAGE["url"]]


def test_event_with_bad_attachment_is_422_and_stores_nothing(api: TestClient) -> None:
    """An event with an empty or malformed attachments list is a 422; no event is kept."""
    order = create_order(api)["order_handle"]
    assert_validation(api.post(f"/orders/{order}/events", json={"events": [
        _event(attachments=[])]}), "json", "events.0.attachments")
    assert_validation(api.post(f"/orders/{order}/events", json={"events": [
        _event(), _event(attachments=[{"type": "signature"}])]}),
        "json", "events.1.attachments.0")
    types = [e["type"] for e in api.get(f"/orders/{order}").json()["timeline"]]
    assert "proof_of_delivery" not in types


def test_an_order_keeps_at_most_100_attachments(api: TestClient) -> None:
    """Past 100 attachments a PATCH is a 422 and the order keeps the ones it had."""
    order = create_order(api)["order_handle"]
    for _ in range(10):
        assert api.patch(f"/orders/{order}", json={"attachments": [NOTE] * 10}).status_code == 200
    assert_validation(api.patch(f"/orders/{order}", json={"attachments": [NOTE]}),
                      "json", "attachments")
    assert len(api.get(f"/orders/{order}").json()["attachments"]) == 100


def _definition(api: TestClient) -> str:
    response = api.post("/orders/tasks-definitions", json={
        "label": "Delivery", "tasks": [{"label": "order_summary"},
                                       {"label": "photo", "priority": "high"}]})
    assert response.status_code == 201, response.text
    return str(response.json()["task_definition_id"])


def test_tasks_list_creates_the_orders_tasks(api: TestClient) -> None:
    """tasks_list with a definition and listed tasks: the definition's tasks, then the listed
    ones, in GET /orders/{h}/tasks, in the created order's tasks and in the detail."""
    definition = _definition(api)
    body = order_body(tasks_list={"task_definition_id": definition, "tasks": [
        {"label": "order_billing_summary", "description": "Bill", "unknown": 1}]})
    response = api.post("/orders/", json=create_orders_body(body, order_body()))
    assert response.status_code == 201, response.text
    created, plain = response.json()["orders"]
    labels = ["order_summary", "photo", "order_billing_summary"]
    assert [t["label"] for t in created["tasks"]] == labels
    assert created["tasks"][0]["task_definition_id"] == definition
    assert created["tasks"][2]["task_definition_id"] is None
    assert all(t["status"] == "created" for t in created["tasks"])
    assert all(ISO_MS_Z.match(t["created_at"]) for t in created["tasks"])
    assert plain["tasks"] == []
    handle = body["order_handle"]
    listed = api.get(f"/orders/{handle}/tasks").json()["tasks"]
    assert [t["task_id"] for t in listed] == [t["task_id"] for t in created["tasks"]]
    assert [t["label"] for t in api.get(f"/orders/{handle}").json()["tasks"]] == labels
    page = api.get("/orders/", params={"search_term": handle}).json()["orders"]
    assert [t["label"] for t in page[0]["tasks"]] == labels


def test_tasks_list_on_track(api: TestClient) -> None:
    """POST /orders/track takes tasks_list too; the order's detail lists the tasks."""
    worker = create_worker(api)
    body = order_body(tasks_list={"tasks": [{"label": "order_summary"}]})
    response = api.post("/orders/track", json={"track_mode": "on_time", "worker_handle": worker,
                                               "orders": [body]})
    assert response.status_code == 201, response.text
    detail = api.get(f"/orders/{body['order_handle']}").json()
    assert [t["label"] for t in detail["tasks"]] == ["order_summary"]


def test_unknown_task_definition_is_422_and_stores_nothing(api: TestClient) -> None:
    """A tasks_list naming no definition of the account is a 422 naming the order; no order
    of the batch is stored."""
    good = order_body(tasks_list={"tasks": [{"label": "x"}]})
    bad = order_body(tasks_list={"task_definition_id": "nope"})
    response = api.post("/orders/", json=create_orders_body(good, bad))
    assert_validation(response, "json", "orders.1.tasks_list.task_definition_id")
    assert api.get(f"/orders/{good['order_handle']}").status_code == 404


def test_tasks_list_with_too_many_tasks_is_422(api: TestClient) -> None:
    """More than 100 tasks for one order is a 422."""
    too_many = order_body(tasks_list={"tasks": [{"label": f"t{i}"} for i in range(101)]})
    assert_validation(api.post("/orders/", json=create_orders_body(too_many)),
                      "json", "orders.0.tasks_list.tasks")
