"""Cursor pagination of GET /orders/: complete, opaque, bound to filters, stable under writes."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import assert_validation, create_orders, list_handles


def _all_pages(api: TestClient, **params: Any) -> tuple[list[str], list[Any]]:
    """Follow pagination tokens to the end: every handle seen, and every token."""
    handles: list[str] = []
    tokens: list[Any] = []
    token = None
    for _ in range(1000):
        query = dict(params, **({"pagination_token": token} if token else {}))
        response = api.get("/orders/", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        handles.extend(o["order_handle"] for o in body["orders"])
        token = body["pagination_token"]
        tokens.append(token)
        if token is None:
            return handles, tokens
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_paging_to_the_end_returns_every_order_once(api: TestClient, direction: str) -> None:
    """Pages of 5 over 23 orders list each exactly once, in order; the last token is null."""
    created = [o["order_handle"] for o in create_orders(api, *(order_body() for _ in range(23)))]
    seen, tokens = _all_pages(api, limit=5, sort_direction=direction)
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen)) == 23
    assert seen == list_handles(api, limit=1000, sort_direction=direction)
    assert len(tokens) == 5 and tokens[-1] is None and all(tokens[:-1])


def test_an_exactly_full_last_page_has_no_token(api: TestClient) -> None:
    """When the orders end on a page boundary the last page says so (no empty extra page)."""
    create_orders(api, *(order_body() for _ in range(10)))
    seen, tokens = _all_pages(api, limit=5)
    assert len(seen) == 10
    assert len(tokens) == 2 and tokens[-1] is None


def test_paging_with_a_filter_lists_only_matches(api: TestClient) -> None:
    """Filters apply on every page."""
    orders = create_orders(api, *(order_body() for _ in range(12)))
    cancelled = [o["order_handle"] for o in orders[::2]]
    for name in cancelled:
        assert api.post(f"/orders/{name}/cancel").status_code == 200
    seen, _ = _all_pages(api, limit=4, status="cancelled")
    assert sorted(seen) == sorted(cancelled)


def test_token_is_opaque(api: TestClient) -> None:
    """The token does not expose handles or timestamps in clear text."""
    orders = create_orders(api, *(order_body() for _ in range(3)))
    token = api.get("/orders/", params={"limit": 1}).json()["pagination_token"]
    assert isinstance(token, str) and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert all(o["order_handle"] not in token for o in orders)
    assert all(o["created_at"][:10] not in token for o in orders)


def test_token_reused_with_other_filters_is_422(api: TestClient) -> None:
    """A token only continues the listing it came from."""
    create_orders(api, *(order_body() for _ in range(3)))
    token = api.get("/orders/", params={"limit": 1, "status": "unplanned"}).json()[
        "pagination_token"]
    assert token
    for params in ({"status": "cancelled"}, {}, {"status": "unplanned", "sort_direction": "asc"},
                   {"status": "unplanned", "search_term": "x"}):
        response = api.get("/orders/", params={**params, "pagination_token": token})
        assert_validation(response, "query", "pagination_token")
    # The same filters with another page size continue fine.
    same = api.get("/orders/", params={"status": "unplanned", "limit": 2,
                                       "pagination_token": token})
    assert same.status_code == 200 and len(same.json()["orders"]) == 2


@pytest.mark.parametrize("token", ["garbage", "x" * 40, "", "%%%", "eyJrIjpbXX0"])
def test_garbage_token_is_422(api: TestClient, token: str) -> None:
    """A token that was not issued by this server is a 422 naming pagination_token."""
    if token == "":
        # An empty token means "first page", like no token at all.
        assert api.get("/orders/", params={"pagination_token": token}).status_code == 200
        return
    assert_validation(api.get("/orders/", params={"pagination_token": token}), "query",
                      "pagination_token")


def test_tampered_token_is_422(api: TestClient) -> None:
    """Changing any character of a real token makes it invalid."""
    create_orders(api, *(order_body() for _ in range(3)))
    token = api.get("/orders/", params={"limit": 1}).json()["pagination_token"]
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    assert_validation(api.get("/orders/", params={"pagination_token": tampered}), "query",
                      "pagination_token")


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pages_are_stable_while_orders_are_inserted(
    app: Any, tenant: Tenant, api: TestClient, direction: str
) -> None:
    """Orders inserted during paging cause no duplicate and no gap among the earlier ones."""
    before = {o["order_handle"] for o in create_orders(api, *(order_body() for _ in range(30)))}
    writer = TestClient(app, raise_server_exceptions=False)
    writer.auth = (tenant.account_id, tenant.secret_key)
    stop = threading.Event()
    inserted: list[str] = []

    def insert_until_stopped() -> None:
        while not stop.is_set() and len(inserted) < 200:
            body = create_orders_body(order_body(), order_body())
            response = writer.post("/orders/", json=body)
            assert response.status_code == 201, response.text
            inserted.extend(o["order_handle"] for o in response.json()["orders"])

    seen: list[str] = []
    token = None
    thread = threading.Thread(target=insert_until_stopped)
    thread.start()
    try:
        while True:
            # Also insert deterministically between two page fetches.
            between = writer.post("/orders/", json=create_orders_body(order_body()))
            assert between.status_code == 201
            inserted.append(between.json()["orders"][0]["order_handle"])
            params: dict[str, Any] = {"limit": 4, "sort_direction": direction}
            if token:
                params["pagination_token"] = token
            body = api.get("/orders/", params=params).json()
            seen.extend(o["order_handle"] for o in body["orders"])
            token = body["pagination_token"]
            if token is None:
                break
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen)), "an order was listed twice"
    assert before <= set(seen), f"missing: {before - set(seen)}"
    assert set(seen) <= before | set(inserted)
    assert inserted, "the writer inserted nothing"
