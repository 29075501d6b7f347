"""Contract section 2.1: ``GET /orders/`` and every documented filter (issue 15 item 3),
with the export body taking the same filters (section 2.9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.core.geohash import encode
from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.contract.spec import answers, conforms, fails
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import set_columns

BERLIN = (13.38, 52.52)
SF = (-122.402, 37.792)
OUTAGE = {"code": "device_unreachable", "label": "Device unreachable",
          "description": "No location.", "duration": 600, "distance": 1200,
          "category": "reachability"}


def _at(point: tuple[float, float], **fields: Any) -> dict[str, Any]:
    return order_body(destination={"geometry": {"type": "Point", "coordinates": list(point)}},
                      **fields)


def _worker(api: TestClient, handle: str, profile: dict[str, Any]) -> None:
    response = api.post("/workers/", json={"worker_handle": handle, "name": handle,
                                           "profile": profile})
    assert response.status_code == 201, response.text


def _track(api: TestClient, worker: str, order: dict[str, Any]) -> dict[str, Any]:
    body = {"track_mode": "on_time", "worker_handle": worker, "orders": [order]}
    route: dict[str, Any] = answers("track", api.post("/orders/track", json=body))
    return route


def _handles(api: TestClient, **params: Any) -> set[str]:
    body = answers("list_orders", api.get("/orders/", params=params))
    for order in body["orders"]:
        conforms("Order", order)
    return {o["order_handle"] for o in body["orders"]}


@pytest.fixture
def world(api: TestClient, db: Database, tenant: Tenant) -> dict[str, str]:
    """North's tracked order in Berlin (inside its destination, with an outage), south's
    tracked order in San Francisco, and an untracked order in Berlin."""
    _worker(api, "north", {"team": "north", "van": True})
    _worker(api, "south", {"team": "south"})
    north = _track(api, "north", _at(BERLIN))["orders"][0]["order_handle"]
    south = _track(api, "south", _at(SF))["orders"][0]["order_handle"]
    idle = api.post("/orders/", json=create_orders_body(_at(BERLIN))).json()["orders"][0]
    now = datetime.now(UTC)
    set_columns(db, tenant.account_id, north, arrived_at=now, outage_summary=[OUTAGE])
    set_columns(db, tenant.account_id, south, arrived_at=now - timedelta(minutes=5),
                exited_at=now - timedelta(minutes=1))
    return {"north": north, "south": south, "idle": idle["order_handle"]}


def test_worker_profile_filter(api: TestClient, world: dict[str, str]) -> None:
    """Orders of workers whose profile holds every key/value given."""
    assert _handles(api, worker_profile_filter=json.dumps({"team": "north"})) == \
        {world["north"]}
    assert _handles(api, worker_profile_filter=json.dumps({"team": "north", "van": False})) \
        == set()
    assert _handles(api, worker_profile_filter=json.dumps({"team": "south"})) == \
        {world["south"]}


def test_destination_geohash(api: TestClient, world: dict[str, str]) -> None:
    """Orders whose destination lies in the geohash cell (any precision, any case)."""
    assert _handles(api, destination_geohash=encode(*BERLIN, 6)) == \
        {world["north"], world["idle"]}
    assert _handles(api, destination_geohash=encode(*SF, 4).upper()) == {world["south"]}
    assert _handles(api, destination_geohash="7") == set()


def test_tracking_status_and_device_switch_mode(api: TestClient,
                                                world: dict[str, str]) -> None:
    """tracked = tracking started; the switch mode of tracked orders defaults to login."""
    assert _handles(api, tracking_status="tracked") == {world["north"], world["south"]}
    assert _handles(api, tracking_status="untracked") == {world["idle"]}
    assert _handles(api, device_switch_mode="login") == {world["north"], world["south"]}
    assert _handles(api, device_switch_mode="manual") == set()


def test_worker_inside_destination(api: TestClient, world: dict[str, str]) -> None:
    """Inside: arrived and not exited since, while the order is open."""
    assert _handles(api, worker_inside_destination="true") == {world["north"]}
    assert _handles(api, worker_inside_destination="false") == {world["south"], world["idle"]}


def test_outage_category_and_send_outage(api: TestClient, world: dict[str, str]) -> None:
    """filter_outage_category matches orders with such an outage; send_outage adds the
    outage summary to the aggregate block."""
    assert _handles(api, filter_outage_category="reachability") == {world["north"]}
    assert _handles(api, filter_outage_category="os,behavioural") == set()
    body = answers("list_orders", api.get("/orders/", params={"send_outage": "true"}))
    conforms("OrderAggregate", body["aggregate"])
    assert body["aggregate"]["outage_summary"] == [{**OUTAGE, "count": 1}]
    assert body["aggregate"]["orders"]["total"] == 3
    assert answers("list_orders", api.get("/orders/"))["aggregate"] is None


def test_route_list_applies_the_same_filters(api: TestClient, world: dict[str, str]) -> None:
    """GET /orders/routes/ takes the filters too (a route matches through its orders)."""
    def routes(**params: Any) -> list[dict[str, Any]]:
        body = answers("list_routes", api.get("/orders/routes/", params=params))
        return list(body["routes"])

    north = routes(worker_profile_filter=json.dumps({"team": "north"}))
    assert [r["worker_handle"] for r in north] == ["north"]
    assert [r["worker_handle"] for r in routes(destination_geohash=encode(*SF, 5))] == \
        ["south"]
    assert [r["worker_handle"] for r in routes(worker_inside_destination="true")] == ["north"]
    assert len(routes(tracking_status="tracked")) == 2
    assert routes(tracking_status="untracked") == []
    with_outage = routes(filter_outage_category="reachability", send_outage="true")
    assert [r["worker_handle"] for r in with_outage] == ["north"]
    assert with_outage[0]["outage_summary"] == [{**OUTAGE, "count": 1}]


def test_export_body_takes_the_filters(api: TestClient, world: dict[str, str]) -> None:
    """POST /orders/export accepts the same filters as JSON fields."""
    body = {"worker_profile_filter": json.dumps({"team": "north"}),
            "destination_geohash": encode(*BERLIN, 5), "tracking_status": "tracked",
            "filter_outage_category": "reachability", "worker_inside_destination": True,
            "device_switch_mode": "login", "send_outage": True}
    answers("create_export", api.post("/orders/export", json=body))
    bad = api.post("/orders/export", json={"destination_geohash": "ai"})
    assert fails("create_export", bad, 422, "ValidationError")["detail"] == {
        "json": {"destination_geohash": ["Not a valid geohash (1-12 of "
                                         "0123456789bcdefghjkmnpqrstuvwxyz)."]}}


def test_limit_above_1000_is_a_full_page(api: TestClient, world: dict[str, str]) -> None:
    """limit has no maximum on the wire: 5000 answers (at most 1000) without an error."""
    body = answers("list_orders", api.get("/orders/", params={"limit": 5000}))
    assert len(body["orders"]) == 3 and body["pagination_token"] is None


def test_get_order_narrows_its_timeline(api: TestClient, db: Database, tenant: Tenant,
                                        world: dict[str, str]) -> None:
    """on_shift_only keeps what happened while tracked; device_id keeps that device's events
    and device-less ones; mocked custom events show only with allow_mocked_events."""
    handle = world["north"]
    # Tracking "started" a second from now, so creation is certainly before it.
    now = datetime.now(UTC) + timedelta(seconds=2)
    set_columns(db, tenant.account_id, handle, started_at=now - timedelta(seconds=1))
    events = [{"type": "photo", "recorded_at": now.isoformat(), "device_id": "phone-1"},
              {"type": "photo", "recorded_at": now.isoformat(), "device_id": "phone-2"},
              {"type": "spoof", "recorded_at": now.isoformat(), "is_mocked": True}]
    answers("order_events", api.post(f"/orders/{handle}/events", json={"events": events}))

    def types(**params: Any) -> list[str]:
        body = answers("get_order", api.get(f"/orders/{handle}", params=params))
        return [e["type"] for e in body["timeline"]]

    everything = types(allow_mocked_events="true")
    assert "spoof" in everything and "order_created" in everything
    assert "spoof" not in types()
    assert types(device_id="phone-1").count("photo") == 1
    shift = types(on_shift_only="true")
    assert "order_created" not in shift and shift.count("photo") == 2
    idle = answers("get_order", api.get(f"/orders/{world['idle']}",
                                        params={"on_shift_only": "true"}))
    assert idle["timeline"] == []
