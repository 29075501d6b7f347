"""Contract section 5.2: every order webhook envelope Routekeeper records has the required
fields, a known value and the order's status."""

from __future__ import annotations

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.contract.spec import answers, conforms
from tests.factories import order_body
from tests.tracking.api_helpers import outbox, register


def test_lifecycle_envelopes_conform(api: TestClient, db: Database, tenant: Tenant) -> None:
    """assigned, started, updated, completed: each envelope conforms and carries the device."""
    assert api.post("/workers/", json={"worker_handle": "fay"}).status_code == 201
    register(api, "fay-phone", "fay")
    route = answers("track", api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "fay", "orders": [order_body()]}))
    handle = route["orders"][0]["order_handle"]
    api.patch(f"/orders/{handle}", json={"metadata": {"x": 1}})
    api.post(f"/orders/{handle}/complete")
    envelopes = outbox(db, tenant.account_id, order_handle=handle)
    assert {"assigned", "started", "updated", "completed"} <= \
        {e["data"]["value"] for e in envelopes}
    for envelope in envelopes:
        conforms("WebhookEvent", envelope)
        assert envelope["device_id"] == "fay-phone"
