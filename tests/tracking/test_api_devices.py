"""Devices: registration linked to workers, ingest keys (hashed, rotated), CRUD and tenancy."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.device import Device
from tests.conftest import Tenant

from .api_helpers import bearer, make_worker, register, stored_positions, ts

FIX = {"recorded_at": "2024-01-01T00:00:00Z",
       "geometry": {"type": "Point", "coordinates": [13.4, 52.5]}}


def _upload_now(api: TestClient, device_id: str, headers: dict[str, str]) -> int:
    from datetime import UTC, datetime

    body = {"locations": [{**FIX, "recorded_at": ts(datetime.now(UTC))}]}
    return api.post(f"/devices/{device_id}/locations", json=body, headers=headers).status_code


def test_register_links_the_device_to_its_worker_and_shows_the_key_once(
    api: TestClient, db: Database, tenant: Tenant
) -> None:
    """Creating a device answers its key, lists it on the worker, and stores only a hash."""
    make_worker(api, "w1")
    response = api.post("/devices/", json={"device_id": "phone-1", "worker_handle": "w1",
                                           "name": "Pixel", "metadata": {"model": "Pixel 8"}})
    assert response.status_code == 201, response.text
    body = response.json()
    key = body["ingest_key"]
    assert key.startswith("rkd_") and len(key) > 40
    assert body["key_prefix"] == key[4:12]
    assert body["worker_handle"] == "w1" and body["name"] == "Pixel"
    assert body["metadata"] == {"model": "Pixel 8"} and body["last_location"] is None
    assert api.get("/workers/w1").json()["device_ids"] == ["phone-1"]
    shown = api.get("/devices/phone-1").json()
    assert "ingest_key" not in shown and shown["key_prefix"] == body["key_prefix"]
    with db.read() as session:
        row = session.scalars(select(Device).where(Device.account_id == tenant.account_id)).one()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in (row.key_hash, row.key_prefix)


def test_register_refuses_unknown_workers_and_duplicates(api: TestClient) -> None:
    """An unknown worker is the coded 404; a second device with the same id is a 409."""
    response = api.post("/devices/", json={"device_id": "d", "worker_handle": "ghost"})
    assert response.status_code == 404
    assert response.json()["code"] == "driver_not_found"
    make_worker(api, "w1")
    register(api, "d", "w1")
    again = api.post("/devices/", json={"device_id": "d", "worker_handle": "w1"})
    assert again.status_code == 409 and again.json()["code"] == "duplicate_resource"
    assert api.get("/workers/w1").json()["device_ids"] == ["d"]
    bad = api.post("/devices/", json={"device_id": "a/b", "worker_handle": "w1"})
    assert bad.status_code == 422 and "device_id" in bad.json()["detail"]["json"]


def test_rotate_key_invalidates_the_old_key(api: TestClient, tenant: Tenant, db: Database
                                            ) -> None:
    """After rotation the old key is a 401 and stores nothing; the new key works."""
    make_worker(api, "w1")
    old = register(api, "d1", "w1")
    anon = TestClient(api.app, raise_server_exceptions=False)
    assert _upload_now(anon, "d1", bearer(old)) == 200
    rotated = api.post("/devices/d1/rotate-key")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["ingest_key"]
    assert new != old and rotated.json()["key_prefix"] == new[4:12]
    before = stored_positions(db, tenant.account_id, "d1")
    refused = anon.post("/devices/d1/locations", json={"locations": [FIX]}, headers=bearer(old))
    assert refused.status_code == 401
    assert refused.json()["message"] == "Authentication error"
    assert stored_positions(db, tenant.account_id, "d1") == before
    assert _upload_now(anon, "d1", bearer(new)) == 200


def test_patch_moves_a_device_between_workers(api: TestClient) -> None:
    """Moving a device takes it off one worker's device_ids and onto the other's."""
    make_worker(api, "w1")
    make_worker(api, "w2")
    register(api, "d1", "w1")
    register(api, "d2", "w1")
    response = api.patch("/devices/d1", json={"worker_handle": "w2", "name": "Van"})
    assert response.status_code == 200, response.text
    assert response.json()["worker_handle"] == "w2" and response.json()["name"] == "Van"
    assert api.get("/workers/w1").json()["device_ids"] == ["d2"]
    assert api.get("/workers/w2").json()["device_ids"] == ["d1"]
    missing = api.patch("/devices/d1", json={"worker_handle": "ghost"})
    assert missing.status_code == 404 and missing.json()["code"] == "driver_not_found"
    assert api.get("/devices/d1").json()["worker_handle"] == "w2"


def test_delete_unlinks_and_revokes(api: TestClient) -> None:
    """A deleted device disappears from its worker, its key is refused, its id can return."""
    make_worker(api, "w1")
    key = register(api, "d1", "w1")
    assert api.delete("/devices/d1").status_code == 204
    assert api.get("/devices/d1").status_code == 404
    assert api.get("/workers/w1").json()["device_ids"] == []
    anon = TestClient(api.app, raise_server_exceptions=False)
    assert _upload_now(anon, "d1", bearer(key)) == 401
    assert api.delete("/devices/d1").status_code == 404
    register(api, "d1", "w1")


def test_list_is_paginated_and_filtered(api: TestClient) -> None:
    """Devices come by id, a page at a time, optionally of one worker."""
    make_worker(api, "w1")
    make_worker(api, "w2")
    for index in range(5):
        register(api, f"d{index}", "w1" if index % 2 == 0 else "w2")
    first = api.get("/devices/", params={"limit": 2}).json()
    assert [d["device_id"] for d in first["devices"]] == ["d0", "d1"]
    second = api.get("/devices/", params={"limit": 2,
                                          "pagination_token": first["pagination_token"]}).json()
    assert [d["device_id"] for d in second["devices"]] == ["d2", "d3"]
    of_w2 = api.get("/devices/", params={"worker_handle": "w2"}).json()
    assert [d["device_id"] for d in of_w2["devices"]] == ["d1", "d3"]
    assert of_w2["pagination_token"] is None
    forged = api.get("/devices/", params={"pagination_token": "nope"})
    assert forged.status_code == 422


def test_another_accounts_devices_are_not_found(api: TestClient, other_tenant: Tenant) -> None:
    """Every device operation of another account answers 404, and uploads with its
    credentials to this account's device are refused."""
    make_worker(api, "w1")
    register(api, "d1", "w1")
    other = other_tenant.client
    assert other.get("/devices/d1").status_code == 404
    assert other.patch("/devices/d1", json={"name": "x"}).status_code == 404
    assert other.delete("/devices/d1").status_code == 404
    assert other.post("/devices/d1/rotate-key").status_code == 404
    assert other.post("/devices/d1/locations", json={"locations": [FIX]}).status_code == 404
    assert other.get("/devices/").json()["devices"] == []
    assert other.post("/devices/", json={"device_id": "d9", "worker_handle": "w1"}
                      ).status_code == 404
    assert api.get("/devices/d1").status_code == 200


def test_device_endpoints_need_credentials(anon: TestClient) -> None:
    """Without credentials every device operation is a 401 in the HTTPError shape."""
    for method, path in (("get", "/devices/"), ("post", "/devices/"), ("get", "/devices/x"),
                         ("post", "/devices/x/rotate-key"), ("delete", "/devices/x")):
        response = anon.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert set(response.json()) == {"detail", "message"}
