"""Contract section 1.1: ``POST /oauth/embed-token`` for a route's and an order's embed URL,
and its errors (400 for a bad grant or URL, 401 without credentials, 404 unknown targets)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.contract.spec import answers, fails
from tests.factories import order_body

GRANT = "client_credentials"


def test_embed_tokens_for_routes_and_orders(api: TestClient, anon: TestClient) -> None:
    """Both kinds of embed URL are signed in the contract's shape; the errors are its own."""
    assert api.post("/workers/", json={"worker_handle": "emma"}).status_code == 201
    route = answers("track", api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "emma", "orders": [order_body()]}))
    route_url = route["embed_url"].split("?", 1)[0]
    signed = answers("embed_token", api.post("/oauth/embed-token", json={
        "embed_url": route_url, "grant_type": GRANT}))
    assert signed["token_type"] == "Bearer" and signed["embed_url"] == route_url
    order_url = route_url.replace(f"/embed/routes/{route['route_handle']}",
                                  f"/embed/orders/{route['orders'][0]['order_handle']}")
    order_url += "?fulfillment-attempt=0"
    signed = answers("embed_token", api.post("/oauth/embed-token", json={
        "embed_url": order_url, "grant_type": GRANT}))
    assert signed["secure_embed_url"].startswith(order_url + "&token=")
    for body in ({"embed_url": order_url, "grant_type": "password"}, {"grant_type": GRANT},
                 {"embed_url": "https://elsewhere.example/x", "grant_type": GRANT}):
        bad = fails("embed_token", api.post("/oauth/embed-token", json=body), 400, "Error")
        assert bad["code"] == "validation_error"
    fails("embed_token", api.post("/oauth/embed-token", json={
        "embed_url": order_url.replace("/embed/orders/", "/embed/orders/x"),
        "grant_type": GRANT}), 404, "HTTPError")
    fails("embed_token", api.post("/oauth/embed-token", json={
        "embed_url": route_url + "x", "grant_type": GRANT}), 404, "HTTPError")
    fails("embed_token", anon.post("/oauth/embed-token", json={
        "embed_url": order_url, "grant_type": GRANT}), 401, "HTTPError")
