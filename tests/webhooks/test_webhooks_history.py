"""``GET /orders/{order_handle}/webhooks``: sent order webhooks with their HTTP outcome."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from tests.conftest import Tenant

from .helpers import (
    all_final,
    cancel_order,
    create_endpoint,
    drain,
    new_order,
    update_order,
)
from .receiver import Receiver


@pytest.fixture
def two_attempts(api: TestClient, receiver: Receiver, runner: JobRunner) -> dict[str, Any]:
    """One handle with two fulfilment attempts, each updated then cancelled, all delivered."""
    endpoint = create_endpoint(api, receiver.url)
    handle = new_order(api)
    update_order(api, handle, attempt=0)
    cancel_order(api, handle)
    new_order(api, order_handle=handle)
    update_order(api, handle, attempt=1)
    cancel_order(api, handle)
    drain(runner, all_final(api, endpoint["id"], 4))
    return {"handle": handle, "endpoint": endpoint}


def _history(api: TestClient, handle: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/orders/{handle}/webhooks", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _values(page: dict[str, Any]) -> list[tuple[int, str]]:
    return [(w["data"]["fulfillment_attempt"], w["data"]["value"]) for w in page["webhooks"]]


def test_history_lists_sent_events_newest_first(
    api: TestClient, tenant: Tenant, two_attempts: dict[str, Any]
) -> None:
    """Every sent event, newest first, as the envelope plus its delivery outcome."""
    page = _history(api, two_attempts["handle"])
    assert _values(page) == [(1, "cancelled"), (1, "updated"), (0, "cancelled"), (0, "updated")]
    assert page["pagination_token"] is None
    first = page["webhooks"][0]
    assert first["account_id"] == tenant.account_id and first["type"] == "order"
    assert first["data"]["order_handle"] == two_attempts["handle"]
    assert first["delivery_http_status"] == 200 and first["retry_count"] == 0
    assert first["delivery_http_response_text"] == '{"ok": true}'
    assert first["delivery_status"] == "delivered" and first["delivered_at"].endswith("Z")
    assert first["endpoint_id"] == two_attempts["endpoint"]["id"]
    assert first["webhook_id"] is not None


def test_history_filters(api: TestClient, two_attempts: dict[str, Any]) -> None:
    """value, fulfillment_attempt, sort_direction and the time window all narrow the list."""
    handle = two_attempts["handle"]
    assert _values(_history(api, handle, value="cancelled")) == [(1, "cancelled"),
                                                                 (0, "cancelled")]
    assert len(_history(api, handle, value="updated, cancelled")["webhooks"]) == 4
    assert _values(_history(api, handle, fulfillment_attempt=0)) == [(0, "cancelled"),
                                                                     (0, "updated")]
    ascending = _history(api, handle, sort_direction="asc")
    assert _values(ascending) == [(0, "updated"), (0, "cancelled"), (1, "updated"),
                                  (1, "cancelled")]
    times = [w["recorded_at"] for w in ascending["webhooks"]]
    window = _history(api, handle, from_time=times[1], to_time=times[3], sort_direction="asc")
    assert [w["recorded_at"] for w in window["webhooks"]] == times[1:3]
    assert _history(api, handle, value="delayed")["webhooks"] == []


def test_history_pages(api: TestClient, two_attempts: dict[str, Any]) -> None:
    """limit pages the list; the token only continues the query it was made for."""
    handle = two_attempts["handle"]
    first = _history(api, handle, limit=3)
    assert len(first["webhooks"]) == 3 and first["pagination_token"]
    rest = _history(api, handle, limit=3, pagination_token=first["pagination_token"])
    assert _values(rest) == [(0, "updated")] and rest["pagination_token"] is None
    other = api.get(f"/orders/{handle}/webhooks",
                    params={"value": "cancelled", "pagination_token": first["pagination_token"]})
    assert other.status_code == 422


def test_history_shows_retries_and_rejections(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """retry_count counts attempts after the first; a 4xx shows its status and text."""
    receiver.script = [500, 404]
    receiver.response_body = b"no such hook"
    endpoint = create_endpoint(api, receiver.url)
    handle = new_order(api)
    cancel_order(api, handle)
    drain(runner, all_final(api, endpoint["id"], 1))
    [entry] = _history(api, handle)["webhooks"]
    assert entry["retry_count"] == 1 and entry["delivery_http_status"] == 404
    assert entry["delivery_http_response_text"] == "no such hook"
    assert entry["delivery_status"] == "rejected" and entry["delivered_at"] is None


def test_history_has_one_entry_per_endpoint(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """An event sent to two endpoints appears once for each delivery."""
    first = create_endpoint(api, receiver.url + "?n=1")
    second = create_endpoint(api, receiver.url + "?n=2")
    handle = new_order(api)
    cancel_order(api, handle)
    drain(runner, all_final(api, first["id"], 1))
    drain(runner, all_final(api, second["id"], 1))
    entries = _history(api, handle)["webhooks"]
    assert sorted(e["endpoint_id"] for e in entries) == sorted([first["id"], second["id"]])
    assert len({e["id"] for e in entries}) == 1


def test_history_of_an_order_without_webhooks_is_empty(api: TestClient) -> None:
    """An order whose events were never sent anywhere has an empty history."""
    handle = new_order(api)
    cancel_order(api, handle)
    assert _history(api, handle) == {"webhooks": [], "pagination_token": None}


def test_history_errors(
    api: TestClient, other_tenant: Tenant, two_attempts: dict[str, Any]
) -> None:
    """Unknown orders and attempts (and other accounts' orders) are 404; bad queries 422."""
    handle = two_attempts["handle"]
    for response in (api.get("/orders/no-such-order/webhooks"),
                     api.get(f"/orders/{handle}/webhooks", params={"fulfillment_attempt": 7}),
                     other_tenant.client.get(f"/orders/{handle}/webhooks")):
        assert response.status_code == 404
        assert set(response.json()) == {"detail", "message"}
    for params, field in (({"value": "teleported"}, "value"), ({"limit": 0}, "limit"),
                          ({"sort_direction": "sideways"}, "sort_direction"),
                          ({"from_time": "last week"}, "from_time"),
                          ({"fulfillment_attempt": -1}, "fulfillment_attempt")):
        response = api.get(f"/orders/{handle}/webhooks", params=params)
        assert response.status_code == 422, params
        assert field in response.json()["detail"]["query"]
