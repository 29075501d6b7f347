"""Tenancy and authentication: another account's orders do not exist; no credentials, no API."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import (
    assert_http_error,
    create_order,
    handle,
    list_handles,
    routed_order,
)

# Every per-order operation with a body that would succeed on one's own order.
OPERATIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("get", "", None),
    ("patch", "", {"metadata": {"stolen": True}}),
    ("post", "/complete", None),
    ("post", "/cancel", {"metadata": {"stolen": True}}),
    ("post", "/disable", None),
    ("post", "/enable", None),
    ("post", "/reschedule", {"scheduled_at": "2031-01-01T00:00:00Z"}),
    ("post", "/events", {"events": [{"type": "x", "recorded_at": "2031-01-01T00:00:00Z"}]}),
]


def _call(client: TestClient, method: str, path: str, body: dict[str, Any] | None,
          params: dict[str, Any] | None = None) -> Any:
    """Send one request with an optional JSON body."""
    kwargs: dict[str, Any] = {"params": params or {}}
    if body is not None:
        kwargs["json"] = body
    return client.request(method.upper(), path, **kwargs)


@pytest.mark.parametrize(("method", "suffix", "body"), OPERATIONS,
                         ids=[f"{m} {s or '/'}" for m, s, _ in OPERATIONS])
def test_another_accounts_order_is_404(
    tenant: Tenant, other_tenant: Tenant, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    """Every operation on another account's order is a 404 HTTPError and changes nothing."""
    order = routed_order(tenant.client)
    name = order["order_handle"]
    before = tenant.client.get(f"/orders/{name}").json()
    for params in ({}, {"fulfillment_attempt": 0}, {"type": "drop", "type_index": 0}):
        response = _call(other_tenant.client, method, f"/orders/{name}{suffix}", body, params)
        error = assert_http_error(response, 404)
        assert error["message"] == "Order not found"
    assert tenant.client.get(f"/orders/{name}").json() == before


def test_another_accounts_orders_are_invisible_in_lists(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """Lists and filters only ever show the caller's own orders."""
    mine = create_order(tenant.client, metadata={"secret": "x"})["order_handle"]
    assert list_handles(other_tenant.client) == []
    assert list_handles(other_tenant.client, search_term=mine) == []
    assert list_handles(other_tenant.client, order_metadata_filter='{"secret": "x"}') == []
    assert list_handles(tenant.client) == [mine]


def test_the_same_handle_lives_independently_in_two_accounts(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """Handles are per account: both may create it, and each changes only its own."""
    name = handle()
    for client in (tenant.client, other_tenant.client):
        response = client.post("/orders/", json=create_orders_body(order_body(order_handle=name)))
        assert response.status_code == 201, response.text
    assert tenant.client.post(f"/orders/{name}/cancel").status_code == 200
    assert other_tenant.client.get(f"/orders/{name}").json()["status"] == "unplanned"
    assert other_tenant.client.get(f"/orders/{name}").json()["fulfillment_attempt"] == 0


def _basic(user: str, password: str) -> str:
    """A Basic Authorization header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUTH_PATHS = [("get", "/orders/"), ("post", "/orders/"), ("get", "/orders/some-order"),
              ("patch", "/orders/some-order"), ("post", "/orders/some-order/cancel")]


@pytest.mark.parametrize(("method", "path"), AUTH_PATHS)
def test_requests_without_credentials_are_401(anon: TestClient, method: str, path: str) -> None:
    """No Authorization header is a 401 HTTPError with a Basic challenge."""
    response = _call(anon, method, path, create_orders_body() if method != "get" else None)
    error = assert_http_error(response, 401)
    assert error["message"] == "Authentication error"
    assert response.headers["www-authenticate"].lower().startswith("basic")


@pytest.mark.parametrize("header", [
    "wrong-secret", "unknown-account", "Basic !!!not-base64!!!", "no-colon", "Basic ",
    "Digest abc", "Bearer not-a-token", "Bearer ",
])
def test_bad_credentials_are_401(anon: TestClient, tenant: Tenant, header: str) -> None:
    """Wrong secrets, unknown accounts, malformed Basic and bogus tokens are 401s."""
    values = {
        "wrong-secret": _basic(tenant.account_id, tenant.secret_key + "x"),
        "unknown-account": _basic("no-such-account", tenant.secret_key),
        "no-colon": "Basic " + base64.b64encode(tenant.account_id.encode()).decode(),
    }
    response = anon.get("/orders/", headers={"Authorization": values.get(header, header)})
    assert_http_error(response, 401)


def test_good_credentials_in_a_header_work(anon: TestClient, tenant: Tenant) -> None:
    """The same client with a correct Basic header is let in (the 401s are not blanket)."""
    response = anon.get("/orders/", headers={
        "Authorization": _basic(tenant.account_id, tenant.secret_key)})
    assert response.status_code == 200, response.text


def test_unauthenticated_create_writes_nothing(anon: TestClient, tenant: Tenant) -> None:
    """A refused request creates no order in anybody's account."""
    name = handle()
    headers = {"Authorization": _basic(tenant.account_id, "wrong")}
    response = anon.post("/orders/", json=create_orders_body(order_body(order_handle=name)),
                         headers=headers)
    assert_http_error(response, 401)
    assert list_handles(tenant.client) == []
