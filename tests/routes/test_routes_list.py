"""GET /orders/routes/: every filter of contract section 2.6, cursor pagination bound to its
filters, and 422s that name the query parameter at fault."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.route import Route
from tests.conftest import Tenant
from tests.factories import order_body
from tests.routes.helpers import (
    create_route,
    make_group,
    make_orders,
    make_worker,
    orders_at,
    point,
    tomorrow_at,
    window,
)


def _listed(api: TestClient, **params: Any) -> list[str]:
    """Handles of the routes listed for these filters (one page, the default sort)."""
    response = api.get("/orders/routes/", params=params)
    assert response.status_code == 200, response.text
    return sorted(r["route_handle"] for r in response.json()["routes"])


@pytest.fixture
def fleet(api: TestClient, tenant: Tenant, db: Database) -> dict[str, str]:
    """Routes that differ in every filtered field: north (planned, group north, metadata),
    south (assigned to ada, tracking, group south), done (completed), sched (scheduled)."""
    make_group(api, "north")
    make_group(api, "south")
    make_worker(api, "ada", group="south")
    # r-north leaves the day after tomorrow: the other routes' orders (due within two hours)
    # start tomorrow at the latest, even when the suite runs just before midnight UTC.
    start = tomorrow_at(10) + timedelta(days=1)
    late = order_body(destination=point(13.41, 52.5), **window(start, after_min=0, at_min=60))
    (north_order,) = make_orders(api, late, group="north")
    north = create_route(api, [north_order], ops_group_handle="north", route_handle="r-north",
                         metadata={"zone": "n", "prio": 2, "cold": True, "tag": "50%_off"})
    api.patch("/orders/routes/r-north", json={"scheduled_start_at": "2031-05-05T06:00:00Z"})
    track = api.post("/orders/track", json={
        "track_mode": "on_shift", "worker_handle": "ada", "ops_group_handle": "south",
        "device_switch_mode": "manual", "route": {"route_handle": "r-south",
                                                  "metadata": {"zone": "s", "prio": "2"}},
        "orders": [order_body(destination=point(13.42, 52.5))],
    })
    assert track.status_code == 201, track.text
    done = create_route(api, orders_at(api, (13.43, 52.5)), route_handle="r-done")
    assert api.post("/orders/routes/r-done/complete").status_code == 200
    create_route(api, orders_at(api, (13.44, 52.5)), route_handle="r-sched")
    with db.write() as session:  # only the planner makes scheduled routes
        row = session.get(Route, (tenant.account_id, "r-sched"))
        assert row is not None
        row.plan_mode, row.plan_id = "scheduled", "plan-1"
    return {"north": north["route_handle"], "done": done["route_handle"]}


def test_equality_and_list_filters(api: TestClient, fleet: dict[str, str]) -> None:
    """status and ops_group_handle comma lists, plan_mode, worker/driver, plan_id, track
    and device switch modes, device_id."""
    everything = ["r-done", "r-north", "r-sched", "r-south"]
    assert _listed(api) == everything
    assert _listed(api, status="planned") == ["r-north", "r-sched"]
    assert _listed(api, status="tracking, completed") == ["r-done", "r-south"]
    assert _listed(api, ops_group_handle="north,south") == ["r-north", "r-south"]
    assert _listed(api, ops_group_handle="default") == ["r-done", "r-sched"]
    assert _listed(api, plan_mode="scheduled") == ["r-sched"]
    assert _listed(api, plan_mode="manual") == ["r-done", "r-north", "r-south"]
    assert _listed(api, plan_id="plan-1") == ["r-sched"]
    assert _listed(api, worker_handle="ada") == _listed(api, driver_handle="ada") == ["r-south"]
    assert _listed(api, worker_handle="bo") == []
    assert _listed(api, track_mode="on_shift") == ["r-south"]
    assert _listed(api, device_switch_mode="manual") == ["r-south"]
    assert _listed(api, device_switch_mode="login") == []
    assert _listed(api, device_id="nothing") == []


def test_search_and_json_filters(api: TestClient, fleet: dict[str, str]) -> None:
    """search_term over handles and metadata (wildcards literal); route_metadata_filter
    with exact JSON types; region and device metadata filters accepted."""
    assert _listed(api, search_term="NORTH") == ["r-north"]
    assert _listed(api, search_term="ada") == ["r-south"]
    assert _listed(api, search_term="50%_o") == ["r-north"]
    assert _listed(api, search_term="5%") == []
    meta = "route_metadata_filter"
    assert _listed(api, **{meta: json.dumps({"zone": "s"})}) == ["r-south"]
    assert _listed(api, **{meta: json.dumps({"prio": 2})}) == ["r-north"]  # not "2"
    assert _listed(api, **{meta: json.dumps({"prio": "2"})}) == ["r-south"]
    assert _listed(api, **{meta: json.dumps({"cold": True, "zone": "n"})}) == ["r-north"]
    assert _listed(api, **{meta: json.dumps({"cold": False})}) == []
    # No device metadata exists yet: nothing matches. Regions need a geocoder (none here).
    refused = api.get("/orders/routes/", params={"region_filter": json.dumps({"city": "X"})})
    assert refused.status_code == 422
    assert "region_filter" in refused.json()["detail"]["query"]
    assert _listed(api, device_metadata_filter=json.dumps({"os": "ios"})) == []


def test_date_and_window_filters(api: TestClient, fleet: dict[str, str]) -> None:
    """X_date is a UTC day; X_from is inclusive, X_to exclusive."""
    today = datetime.now(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    later = (today + timedelta(days=2)).isoformat()
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert _listed(api, created_at_date=today.isoformat()) == \
        ["r-done", "r-north", "r-sched", "r-south"]
    assert _listed(api, created_at_date=yesterday) == []
    assert _listed(api, created_at_from=hour_ago) == _listed(api)
    assert _listed(api, created_at_to=hour_ago) == []
    assert _listed(api, started_at_date=today.isoformat()) == ["r-south"]
    assert _listed(api, started_at_from=hour_ago) == ["r-south"]
    assert _listed(api, completed_at_date=today.isoformat()) == ["r-done"]
    assert _listed(api, completed_at_to=hour_ago) == []
    assert _listed(api, planned_at_from=hour_ago, status="planned") == ["r-north", "r-sched"]
    assert _listed(api, planned_at_date=yesterday) == []
    # r-north's windows are the day after tomorrow, so it must leave that day.
    assert _listed(api, start_by_date=later) == ["r-north"]
    assert _listed(api, start_by_from=f"{later} 00:00:00",
                   start_by_to=f"{later} 23:59:59") == ["r-north"]
    assert _listed(api, scheduled_start_at_from="2031-05-05 06:00:00") == ["r-north"]
    assert _listed(api, scheduled_start_at_to="2031-05-05 06:00:00") == []
    assert _listed(api, scheduled_start_at_from="2031-05-05T05:00:00-02:00") == []


def test_list_shape_is_the_reduced_route(api: TestClient, fleet: dict[str, str]) -> None:
    """RouteList: reduced orders and an estimate without polyline."""
    (north,) = api.get("/orders/routes/", params={"ops_group_handle": "north"}).json()["routes"]
    assert set(north["estimate"]) == {"start_by", "distance", "duration"}
    order = north["orders"][0]
    assert {"order_handle", "status", "estimate", "expected_service_time"} <= order.keys()
    assert "destination" not in order
    assert north["metadata"]["zone"] == "n" and north["version"] == 2


def test_pagination_is_bound_to_its_filters(api: TestClient) -> None:
    """limit pages through every route once, in either direction; a token only works with
    the filters it was made for."""
    handles = [create_route(api, orders_at(api, (13.41, 52.5)))["route_handle"]
               for _ in range(5)]
    for direction in ("desc", "asc"):
        seen: list[str] = []
        token = None
        while True:
            params: dict[str, Any] = {"limit": 2, "sort_direction": direction}
            if token:
                params["pagination_token"] = token
            body = api.get("/orders/routes/", params=params).json()
            seen += [r["route_handle"] for r in body["routes"]]
            token = body["pagination_token"]
            if token is None:
                break
        assert sorted(seen) == sorted(handles) and len(seen) == 5
        expected = sorted(seen, key=handles.index)
        assert seen == (expected if direction == "asc" else expected[::-1])
    first = api.get("/orders/routes/", params={"limit": 2}).json()
    other = api.get("/orders/routes/", params={"limit": 2, "status": "planned",
                                               "pagination_token": first["pagination_token"]})
    assert other.status_code == 422
    assert "pagination_token" in other.json()["detail"]["query"]
    forged = api.get("/orders/routes/", params={"pagination_token": "abc"})
    assert forged.status_code == 422
    assert "pagination_token" in forged.json()["detail"]["query"]


BAD_VALUES = {
    "status": "planned,bogus", "plan_mode": "pool", "ops_group_handle": "a\x00b",
    "track_mode": "walking", "device_switch_mode": "random", "sort_direction": "up",
    "limit": "0", "created_at_date": "2024-13-01", "started_at_date": "2024-W01-1",
    "start_by_from": "yesterday", "scheduled_start_at_to": "2024-01-01 25:00:00",
    "route_metadata_filter": "{not json", "device_metadata_filter": "[1]",
    "region_filter": json.dumps({"zip": "10115"}), "search_term": "x" * 201,
}


@pytest.mark.parametrize(("name", "value"), BAD_VALUES.items(), ids=list(BAD_VALUES))
def test_a_bad_value_is_a_422_naming_its_parameter(api: TestClient, name: str,
                                                   value: str) -> None:
    """Each bad filter value is a ValidationError at query.<name>."""
    response = api.get("/orders/routes/", params={name: value})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "Validation error"
    assert list(body["detail"]) == ["query"]
    assert list(body["detail"]["query"]) == [name]


def test_several_bad_values_are_all_named(api: TestClient) -> None:
    """Errors in several parameters are reported together, each under its own name."""
    response = api.get("/orders/routes/", params={"status": "x", "created_at_date": "x",
                                                  "completed_at_from": "x", "unknown": "1"})
    assert response.status_code == 422
    assert set(response.json()["detail"]["query"]) == \
        {"status", "created_at_date", "completed_at_from", "unknown"}
