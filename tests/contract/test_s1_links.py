"""Contract sections 1.2, 2.3, 2.8 and 2.9: the links a HyperTrack client is handed
(``share_url``, ``embed_url``, export links) work where the server runs: the configured
public URL, else a trusted proxy's X-Forwarded-*, else the address it bound (issue 15
item 8)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.settings import ApiSettings, Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.contract.spec import answers
from tests.factories import order_body

FORWARDED = {"X-Forwarded-Host": "track.example.com", "X-Forwarded-Proto": "https",
             "X-Forwarded-Prefix": "/rk"}


def _client(settings: Settings, tenant: Tenant, **changes: Any) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=changes), run_worker=False)
    with TestClient(app, client=("10.0.0.7", 40000)) as client:
        client.auth = (tenant.account_id, tenant.secret_key)
        yield client


@pytest.fixture
def configured(settings: Settings, tenant: Tenant) -> Iterator[TestClient]:
    """A client of an app whose public URL is configured (ROUTEKEEPER_PUBLIC_URL)."""
    yield from _client(settings, tenant, configured_public_url="https://rk.example.com/base")


@pytest.fixture
def proxied(settings: Settings, tenant: Tenant) -> Iterator[TestClient]:
    """A client behind a trusted proxy (10.0.0.0/8) of an app with no configured URL."""
    yield from _client(settings, tenant, configured_public_url=None,
                       bound_url="http://127.0.0.1:11555",
                       api=ApiSettings(trusted_proxies="10.0.0.0/8"))


def _tracked(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    worker = f"links-{os.urandom(3).hex()}"
    assert client.post("/workers/", json={"worker_handle": worker}).status_code == 201
    route: dict[str, Any] = answers("track", client.post("/orders/track", headers=headers, json={
        "track_mode": "on_time", "worker_handle": worker, "orders": [order_body()]}))
    return route


def test_links_use_the_configured_public_url(configured: TestClient, db: Database,
                                             settings: Settings) -> None:
    """share_url, embed_url and the export's link start with ROUTEKEEPER_PUBLIC_URL."""
    route = _tracked(configured)
    base = "https://rk.example.com/base/"
    assert route["embed_url"].startswith(base)
    assert route["orders"][0]["share_url"].startswith(base)
    job = answers("create_export", configured.post("/orders/export", json={}))["job_id"]
    build_runner(db, settings.model_copy(
        update={"configured_public_url": "https://rk.example.com/base"})).run_until_idle()
    state = answers("export_status", configured.get(f"/orders/export/{job}"))
    assert state["status"] == "completed"
    assert state["presigned_url"].startswith(f"{base}exports/download/{job}?")


def test_links_follow_a_trusted_proxy(proxied: TestClient) -> None:
    """Without a configured URL, a trusted proxy's X-Forwarded-* make the links; without
    those headers they name the address the server bound."""
    forwarded = _tracked(proxied, FORWARDED)
    assert forwarded["embed_url"].startswith("https://track.example.com/rk/embed/routes/")
    assert forwarded["orders"][0]["share_url"].startswith("https://track.example.com/rk/")
    direct = _tracked(proxied)
    assert direct["embed_url"].startswith("http://127.0.0.1:11555/embed/routes/")
