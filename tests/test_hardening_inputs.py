"""Small holes found by probing (issue 16, items 5 and 7): each request below was a 500, was
served as something else, or was accepted although nothing could use it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body, worker_body
from tests.tracking.api_helpers import bearer, make_worker, register, ts


@pytest.mark.parametrize("path", [
    "/orders/%0A", "/orders/plans/%0A", "/workers/%0A", "/devices/%0A",
    "/workers/ops-groups/%0A", "/webhooks/endpoints%0A",
])
def test_collection_paths_with_an_encoded_newline_are_not_the_collection(
    api: TestClient, path: str
) -> None:
    """``/orders/%0A`` was answered as ``/orders/`` (a 200 listing): now a 404."""
    response = api.get(path)
    assert response.status_code == 404, response.text
    assert "not found" in response.text.lower()


@pytest.mark.parametrize("path", [
    "/orders/plans/a%00b", "/webhooks/endpoints/a%00b", "/orders/export/a%00b",
    "/webhooks/endpoints/a%00b/deliveries", "/orders/a%00b",
])
def test_nul_in_an_id_is_a_404(api: TestClient, path: str) -> None:
    """A NUL in a plan, webhook-endpoint or export id was a 500 on PostgreSQL."""
    response = api.get(path)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("query", [
    {"ops_group_handle": "a\x00b"}, {"fulfillment_date": "\x00"}, {"a\x00": "1"},
])
def test_nul_in_a_query_parameter_is_a_422(api: TestClient, query: dict[str, str]) -> None:
    """The plans filter ``ops_group_handle`` with a NUL was a 500 on PostgreSQL."""
    response = api.get("/orders/plans", params=query)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Validation error"


def test_a_download_link_with_a_non_ascii_digit_is_refused(anon: TestClient) -> None:
    """``expires=²`` passed ``str.isdigit`` and then failed ``int()``: a 500, now a 403."""
    response = anon.get("/exports/download/x", params={"expires": "²", "signature": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize("url", [
    "javascript:alert(1)//embed/routes/R1",
    "https://evil.example/embed/routes/R1",
    "http://testserver.evil.example/embed/routes/R1",
    "ftp://testserver/embed/routes/R1",
    "http://testserver/elsewhere/embed/routes/R1",
])
def test_embed_token_signs_only_this_servers_embed_urls(api: TestClient, url: str) -> None:
    """Any URL ending in an embed path was signed, ``javascript:`` and other hosts too."""
    response = api.post("/oauth/embed-token",
                        json={"embed_url": url, "grant_type": "client_credentials"})
    assert response.status_code == 400, response.text


def test_pagination_tokens_are_bound_to_their_list_and_account(
    api: TestClient, other_tenant: Tenant
) -> None:
    """An orders token was accepted by the plans and routes lists and by another account
    (each resuming at a position of another ordering); now each is a 422 naming the token."""
    body = create_orders_body(order_body(), order_body())
    assert api.post("/orders/", json=body).status_code in (200, 201)
    other_tenant.client.post("/orders/", json=create_orders_body(order_body(), order_body()))
    page = api.get("/orders/", params={"limit": 1}).json()
    token = page["pagination_token"]
    assert token, page
    assert api.get("/orders/", params={"limit": 1, "pagination_token": token}).status_code \
        == 200
    for client, path in ((api, "/orders/plans"), (api, "/orders/routes/"),
                         (other_tenant.client, "/orders/")):
        response = client.get(path, params={"limit": 1, "pagination_token": token})
        assert response.status_code == 422, (path, response.text)
        assert "pagination_token" in response.json()["detail"]["query"]


@pytest.mark.parametrize("handle", [".", ".."])
def test_worker_handles_that_paths_resolve_away_are_refused(api: TestClient,
                                                            handle: str) -> None:
    """A worker ``..`` was created but ``/workers/..`` can never address it."""
    response = api.post("/workers/", json=worker_body(worker_handle=handle))
    assert response.status_code == 422, response.text
    assert api.post("/workers/", json=worker_body(worker_handle="...")).status_code == 201


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_host_dependent_time_zones_are_refused(api: TestClient, zone: str) -> None:
    """``localtime`` (whatever the host is set to) was accepted as an ops group's zone."""
    response = api.post("/workers/ops-groups/",
                        json={"ops_group_handle": f"tz-{zone}", "timezone": zone})
    assert response.status_code == 422, response.text
    assert "timezone" in response.json()["detail"]["json"]


@pytest.mark.parametrize("url", [
    "https://example.com/a b", "https://example.com:99999/hook", "https://example.com:0/x",
    "https://example.com/\thook",
])
def test_webhook_urls_that_cannot_be_delivered_as_given_are_refused(
    api: TestClient, url: str
) -> None:
    """A raw space (sent percent-encoded, so to another URL) and port 99999 were accepted."""
    response = api.post("/webhooks/endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    assert "url" in response.json()["detail"]["json"]


def test_fixes_dated_before_2000_are_rejected(api: TestClient) -> None:
    """A fix stamped 1999 (an unset device clock) was stored as the device's history."""
    make_worker(api, "w-old")
    key = register(api, "d-old", "w-old")
    device = TestClient(api.app, raise_server_exceptions=False)
    body = {"locations": [{"recorded_at": ts(datetime(1999, 12, 31, 23, 0, tzinfo=UTC)),
                           "geometry": {"type": "Point", "coordinates": [13.4, 52.5]}}]}
    response = device.post("/devices/d-old/locations", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 0 and result["rejected"] == 1
    assert result["rejections"][0]["reason"] == "recorded_at is before 2000"


def test_answers_carrying_a_secret_are_not_cached(api: TestClient) -> None:
    """Webhook endpoint create/rotate and device create/rotate answer ``no-store``."""
    created = api.post("/webhooks/endpoints", json={"url": "https://example.com/hook"})
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    rotated = api.post(f"/webhooks/endpoints/{endpoint_id}/rotate-secret")
    make_worker(api, "w-cache")
    device = api.post("/devices/", json={"device_id": "d-cache", "worker_handle": "w-cache"})
    assert device.status_code == 201, device.text
    rekeyed = api.post("/devices/d-cache/rotate-key")
    for response in (created, rotated, device, rekeyed):
        assert response.status_code in (200, 201), response.text
        assert response.headers["cache-control"] == "no-store"
    listed = api.get("/webhooks/endpoints")
    assert "no-store" not in listed.headers.get("cache-control", "")
