"""The order embed over HTTP: ``POST /oauth/embed-token`` signs an order's embed URL
(``.../embed/orders/<handle>?fulfillment-attempt=N``, contract 1.1), and the ops view it opens
shows the order, its timeline and the worker's live position only while on the way to it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant

from .helpers import DEPOT, Shift, offset, path_of, start_shift


@pytest.fixture
def shift(tenant: Tenant, db: Database) -> Shift:
    """A tracked three-stop route of a fresh account."""
    return start_shift(tenant, db, prefix="oe")


def sign(api: TestClient, url: str) -> dict[str, Any]:
    """``POST /oauth/embed-token`` for ``url``; the answer."""
    response = api.post("/oauth/embed-token",
                        json={"embed_url": url, "grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def state(anon: TestClient, secure_url: str) -> dict[str, Any]:
    """The JSON state of an order embed opened with a signed URL."""
    path, query = path_of(secure_url).split("?", 1)
    response = anon.get(f"{path}/state?{query}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = json.loads(response.text)
    return data


def order_url(handle: str, attempt: int | None = 0) -> str:
    """An order embed URL of this server, as a HyperTrack client writes it."""
    query = "" if attempt is None else f"?fulfillment-attempt={attempt}"
    return f"http://testserver/embed/orders/{handle}{query}"


def test_embed_token_signs_an_order_embed_url_that_opens_the_order_view(
    shift: Shift, api: TestClient, anon: TestClient, settings: Settings
) -> None:
    """The contract's answer for an order URL; the secure URL opens the order's page alone,
    with its handle, timeline and worker, and the plain URL asks for credentials."""
    handle = shift.handles[0]
    body = sign(api, order_url(handle))
    assert set(body) == {"access_token", "token_type", "expires_in", "embed_url",
                         "secure_embed_url"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.views.embed_token_ttl_s
    assert body["embed_url"] == order_url(handle)
    assert body["secure_embed_url"] == f"{order_url(handle)}&token={body['access_token']}"
    page = anon.get(path_of(body["secure_embed_url"]))
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"Order {handle}" in page.text and "Ada Lovelace" in page.text
    assert "Timeline" in page.text and "Started" in page.text
    assert f"/embed/orders/{handle}/events?fulfillment-attempt=0&amp;token=" in page.text
    assert anon.get(path_of(order_url(handle))).status_code == 401
    # Without an attempt the latest is signed, and named in the URLs handed back.
    latest = sign(api, order_url(handle, None))
    assert latest["embed_url"] == order_url(handle)


def test_order_view_shows_the_worker_only_on_the_way_to_the_order(
    shift: Shift, api: TestClient, anon: TestClient
) -> None:
    """The first stop's view shows the worker and the trail at once; the second's only once
    the first is finished and a newer position arrives; the timeline grows meanwhile."""
    first = sign(api, order_url(shift.handles[0]))["secure_embed_url"]
    second = sign(api, order_url(shift.handles[1]))["secure_embed_url"]
    here = offset(DEPOT, 200.0, 0.0)
    shift.post_position(*here)
    view = state(anon, first)
    assert view["map"]["worker"] == [pytest.approx(here[1]), pytest.approx(here[0])]
    assert view["map"]["destination"] is not None and view["map"]["trail"]
    assert "(on the way)" in view["panel"]
    assert state(anon, second)["map"]["worker"] is None
    shift.complete(0)
    done = state(anon, first)
    assert done["map"]["worker"] is None and "Completed" in done["panel"]
    shift.post_position(*offset(DEPOT, 2000.0, 100.0))
    assert state(anon, second)["map"]["worker"] is not None


def test_order_embed_tokens_open_their_order_attempt_only(
    shift: Shift, api: TestClient, anon: TestClient
) -> None:
    """A token opens its own order attempt: not another order, not another attempt, and a
    route's token opens no order; an order token is no route token either."""
    body = sign(api, order_url(shift.handles[0]))
    token = body["access_token"]
    other = f"/embed/orders/{shift.handles[1]}?fulfillment-attempt=0&token={token}"
    assert anon.get(other).status_code == 403
    assert anon.get(f"/embed/orders/{shift.handles[1]}/state?token={token}").status_code == 403
    wrong_attempt = f"/embed/orders/{shift.handles[0]}?fulfillment-attempt=1&token={token}"
    assert anon.get(wrong_attempt).status_code == 403
    route_token = shift.embed_url.split("token=", 1)[1]
    assert anon.get(f"/embed/orders/{shift.handles[0]}/state?token={route_token}"
                    ).status_code == 403
    assert anon.get(f"/embed/routes/{shift.route_handle}/state?token={token}").status_code == 403


@pytest.mark.parametrize("url, status", [
    ("http://testserver/embed/orders/no-such-order?fulfillment-attempt=0", 404),
    ("http://testserver/embed/orders/{handle}?fulfillment-attempt=7", 404),
    ("http://testserver/embed/orders/{handle}?fulfillment-attempt=x", 400),
    ("http://elsewhere.example/embed/orders/{handle}", 400),
    ("http://testserver/embed/orders/", 400),
])
def test_embed_token_refuses_order_urls_it_cannot_sign(
    shift: Shift, api: TestClient, url: str, status: int
) -> None:
    """Unknown orders and attempts are 404; malformed or foreign URLs 400, in the contract's
    error shapes."""
    response = api.post("/oauth/embed-token", json={
        "embed_url": url.format(handle=shift.handles[0]), "grant_type": "client_credentials"})
    assert response.status_code == status, response.text
    body = response.json()
    if status == 400:
        assert body["code"] == "validation_error" and body["detail"]["description"]
    else:
        assert body["message"] == "Order not found"


def test_the_order_page_with_credentials_and_the_share_page_stays_the_customers(
    shift: Shift, api: TestClient, anon: TestClient, tenant: Tenant
) -> None:
    """The account opens the order view with its credentials; the customer's share page of
    the same order still shows no handles or route."""
    handle = shift.handles[0]
    page = api.get(f"/embed/orders/{handle}")
    assert page.status_code == 200 and f"Order {handle}" in page.text
    share = anon.get(f"/t/{shift.tracking_id(0)}")
    assert share.status_code == 200
    assert handle not in share.text and shift.route_handle not in share.text
