"""The endpoints API: create, list, read, update, delete, rotate; validation and safety."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.accounts.service import create_account
from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.webhooks import safety
from tests.conftest import Tenant

from .helpers import create_endpoint


@pytest.fixture(scope="module")
def strict(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A client of an app that refuses private webhook targets (the production default)."""
    webhooks = settings.webhooks.model_copy(update={"allow_private_targets": False})
    app = create_app(settings.model_copy(update={"webhooks": webhooks}), run_worker=False)
    with db.write() as session:
        creds = create_account(session, name="Strict", contact_email="ops@example.com")
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = (creds.account_id, creds.secret_key)
        yield client


def test_create_returns_a_standard_webhooks_secret(api: TestClient) -> None:
    """Creation answers 201 with a ``whsec_`` secret of at least 24 random bytes."""
    data = create_endpoint(api, "https://example.com/hooks", description="ops",
                           event_types=["order.completed", "route", "order"])
    assert data["secret"].startswith("whsec_")
    assert len(base64.b64decode(data["secret"].removeprefix("whsec_"))) >= 24
    assert data["event_types"] == ["order", "order.completed", "route"]
    assert data["enabled"] is True and data["description"] == "ops"
    assert data["created_at"].endswith("Z")
    other = create_endpoint(api, "https://example.com/hooks")
    assert other["secret"] != data["secret"]


def test_secret_is_only_shown_at_creation(api: TestClient) -> None:
    """Reading or listing an endpoint never reveals its secret."""
    created = create_endpoint(api, "https://example.com/a")
    read = api.get(f"/webhooks/endpoints/{created['id']}").json()
    assert "secret" not in read and read["url"] == "https://example.com/a"
    listed = api.get("/webhooks/endpoints").json()["endpoints"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert all("secret" not in e for e in listed)


def test_list_is_paginated(api: TestClient) -> None:
    """Endpoints list oldest first, page by page."""
    ids = [create_endpoint(api, f"https://example.com/{n}")["id"] for n in range(3)]
    first = api.get("/webhooks/endpoints", params={"limit": 2}).json()
    assert [e["id"] for e in first["endpoints"]] == ids[:2]
    second = api.get("/webhooks/endpoints",
                     params={"limit": 2, "pagination_token": first["pagination_token"]}).json()
    assert [e["id"] for e in second["endpoints"]] == ids[2:]
    assert second["pagination_token"] is None
    bad = api.get("/webhooks/endpoints", params={"pagination_token": "forged"})
    assert bad.status_code == 422 and "pagination_token" in bad.json()["detail"]["query"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://exa mple.com/x"}, "url"),
        ({}, "url"),
        ({"url": "https://example.com", "event_types": ["order.teleported"]}, "event_types"),
        ({"url": "https://example.com", "event_types": ["parcel"]}, "event_types"),
        ({"url": "https://example.com", "event_types": []}, "event_types"),
        ({"url": "https://example.com", "colour": "red"}, "colour"),
    ],
)
def test_invalid_bodies_are_422(api: TestClient, body: dict[str, Any], field: str) -> None:
    """Bad URLs, unknown event types and unknown fields are 422s naming the field."""
    response = api.post("/webhooks/endpoints", json=body)
    assert response.status_code == 422
    assert response.json()["message"] == "Validation error"
    assert field in response.json()["detail"]["json"]


def test_update_fields_and_enable_disable(api: TestClient) -> None:
    """PATCH changes only the fields sent; disabling and enabling stamp and clear."""
    created = create_endpoint(api, "https://example.com/a", event_types=["order"])
    path = f"/webhooks/endpoints/{created['id']}"
    changed = api.patch(path, json={"description": "new", "event_types": None}).json()
    assert changed["description"] == "new" and changed["event_types"] is None
    assert changed["url"] == "https://example.com/a"
    off = api.patch(path, json={"enabled": False}).json()
    assert off["enabled"] is False and off["disabled_at"] is not None
    assert off["disabled_reason"] == "Disabled through the API."
    on = api.patch(path, json={"enabled": True}).json()
    assert on["enabled"] is True and on["disabled_at"] is None and on["disabled_reason"] is None
    assert api.patch(path, json={"url": "gopher://x"}).status_code == 422
    assert api.patch(path, json={"url": None}).status_code == 422
    assert api.patch(path, json={"enabled": None}).status_code == 422


def test_delete_hides_the_endpoint(api: TestClient) -> None:
    """A deleted endpoint is gone from reads, lists and updates."""
    created = create_endpoint(api, "https://example.com/a")
    path = f"/webhooks/endpoints/{created['id']}"
    assert api.delete(path).json() == {}
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert api.get("/webhooks/endpoints").json()["endpoints"] == []


def test_rotate_secret_keeps_the_old_one_for_the_overlap(
    api: TestClient, settings: Settings
) -> None:
    """Rotation returns a new secret and says until when the old one still signs."""
    created = create_endpoint(api, "https://example.com/a")
    rotated = api.post(f"/webhooks/endpoints/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    data = rotated.json()
    assert data["secret"].startswith("whsec_") and data["secret"] != created["secret"]
    expires = datetime.fromisoformat(data["previous_secret_expires_at"])
    overlap = (expires - datetime.now(UTC)).total_seconds()
    assert abs(overlap - settings.webhooks.secret_rotation_overlap_s) < 60


def test_other_accounts_endpoints_are_404(api: TestClient, other_tenant: Tenant) -> None:
    """Every operation on another account's endpoint answers 404 in the HTTPError shape."""
    theirs = create_endpoint(other_tenant.client, "https://example.com/theirs")
    base = f"/webhooks/endpoints/{theirs['id']}"
    calls = [
        api.get(base), api.patch(base, json={"description": "x"}), api.delete(base),
        api.post(base + "/rotate-secret"), api.get(base + "/deliveries"),
        api.post(base + "/replay", json={"since": "2020-01-01T00:00:00Z"}),
    ]
    for response in calls:
        assert response.status_code == 404, response.text
        assert set(response.json()) == {"detail", "message"}
    assert api.get("/webhooks/endpoints").json()["endpoints"] == []
    assert other_tenant.client.get(base).status_code == 200


def test_unauthenticated_is_401(anon: TestClient) -> None:
    """Without credentials every webhook operation is a 401."""
    assert anon.get("/webhooks/endpoints").status_code == 401
    assert anon.post("/webhooks/endpoints", json={"url": "https://x.example"}).status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks", "http://localhost/hooks", "http://api.localhost/x",
        "http://10.0.0.5/hooks", "http://192.168.1.1/", "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data", "http://[::1]/hooks", "http://0.0.0.0/",
        "http://224.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/",
        "http://100.64.0.1/",
    ],
)
def test_private_targets_are_refused_at_creation(strict: TestClient, url: str) -> None:
    """Loopback, private, link-local, multicast and unspecified targets are a 422."""
    response = strict.post("/webhooks/endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    assert "url" in response.json()["detail"]["json"]


def test_names_are_resolved_and_every_address_checked(
    strict: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with any private address is refused; a public one is accepted."""
    answers = {
        "public.example.test": ["93.184.216.34"],
        "mixed.example.test": ["93.184.216.34", "10.1.2.3"],
    }

    def resolve(host: str, port: int) -> list[tuple[object, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [(2, 1, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(safety, "_getaddrinfo", resolve)
    ok = strict.post("/webhooks/endpoints", json={"url": "https://public.example.test/h"})
    assert ok.status_code == 201, ok.text
    mixed = strict.post("/webhooks/endpoints", json={"url": "https://mixed.example.test/h"})
    assert mixed.status_code == 422
    assert "10.1.2.3, a private address" in mixed.json()["detail"]["json"]["url"][0]
    unknown = strict.post("/webhooks/endpoints", json={"url": "https://nowhere.example.test/"})
    assert unknown.status_code == 422
    assert "does not resolve" in unknown.json()["detail"]["json"]["url"][0]
    moved = strict.patch(f"/webhooks/endpoints/{ok.json()['id']}",
                         json={"url": "http://127.0.0.1/"})
    assert moved.status_code == 422


def test_public_address_literals_are_accepted(strict: TestClient) -> None:
    """A public address needs no lookup and is accepted."""
    response = strict.post("/webhooks/endpoints", json={"url": "https://93.184.216.34/hooks"})
    assert response.status_code == 201, response.text
