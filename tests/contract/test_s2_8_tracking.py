"""Contract section 2.8: the public tracking view, without credentials."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.contract.spec import answers, fails
from tests.factories import order_body


def test_public_tracking_of_a_tracked_order(api: TestClient, anon: TestClient) -> None:
    """The share_url's id opens the tracking data without auth; an unknown id is 404."""
    assert api.post("/workers/", json={"worker_handle": "eve"}).status_code == 201
    route = answers("track", api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "eve", "orders": [order_body()]}))
    tracking_id = route["orders"][0]["share_url"].rsplit("/", 1)[1]
    body = answers("public_tracking", anon.get(f"/tracking/{tracking_id}"))
    assert {"order", "driver", "inferences"} <= set(body)
    assert body["order"]["order_handle"] == route["orders"][0]["order_handle"]
    fails("public_tracking", anon.get("/tracking/nope"), 404, "HTTPError")
