"""GET /orders/: every implemented filter, sorting, limits, and refusal of unknown filters."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import (
    assert_validation,
    create_order,
    create_orders,
    handle,
    list_handles,
    routed_orders,
    set_columns,
)


def _group(api: TestClient, timezone: str) -> str:
    """Create an ops group in ``timezone``; its handle."""
    name = handle("group")
    response = api.post("/workers/ops-groups/", json={"ops_group_handle": name,
                                                      "timezone": timezone})
    assert response.status_code in (200, 201), response.text
    return name


def test_list_shape_and_newest_first_default(api: TestClient) -> None:
    """The page is {orders, pagination_token, aggregate}, newest first by default."""
    first = create_order(api)["order_handle"]
    second = create_order(api)["order_handle"]
    response = api.get("/orders/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"orders", "pagination_token", "aggregate"}
    assert body["pagination_token"] is None and body["aggregate"] is None
    assert [o["order_handle"] for o in body["orders"]] == [second, first]


def test_sort_direction(api: TestClient) -> None:
    """asc and desc list the same orders in opposite created_at order."""
    handles = [create_order(api)["order_handle"] for _ in range(4)]
    assert list_handles(api, sort_direction="asc") == handles
    assert list_handles(api, sort_direction="desc") == handles[::-1]
    assert_validation(api.get("/orders/", params={"sort_direction": "up"}), "query",
                      "sort_direction")


def test_status_filter_takes_a_comma_list(api: TestClient) -> None:
    """status=a,b matches orders in any listed status."""
    kept, cancelled = create_order(api)["order_handle"], create_order(api)["order_handle"]
    assert api.post(f"/orders/{cancelled}/cancel").status_code == 200
    assert list_handles(api, status="cancelled") == [cancelled]
    assert list_handles(api, status="unplanned") == [kept]
    assert sorted(list_handles(api, status="unplanned, cancelled")) == sorted([kept, cancelled])
    assert list_handles(api, status="completed") == []


def test_unknown_status_is_422_naming_query_status(api: TestClient) -> None:
    """An unknown status value is refused, naming the value."""
    messages = assert_validation(api.get("/orders/", params={"status": "unplanned,lost"}),
                                 "query", "status")
    assert "lost" in messages[0]


def test_rescheduled_status_matches_rescheduled_orders(api: TestClient) -> None:
    """status=rescheduled lists orders that were rescheduled, whatever their status."""
    moved, still = create_order(api)["order_handle"], create_order(api)["order_handle"]
    response = api.post(f"/orders/{moved}/reschedule",
                        json={"scheduled_at": "2031-05-01T10:00:00Z"})
    assert response.status_code == 200, response.text
    assert list_handles(api, status="rescheduled") == [moved]
    assert still not in list_handles(api, status="rescheduled")


def test_worker_route_and_driver_filters(api: TestClient) -> None:
    """worker_handle, its alias driver_handle and route_handle select a route's orders."""
    loose = create_order(api)["order_handle"]
    route, orders = routed_orders(api, order_body(), order_body())
    worker = orders[0]["worker_handle"]
    on_route = sorted(o["order_handle"] for o in orders)
    assert sorted(list_handles(api, worker_handle=worker)) == on_route
    assert sorted(list_handles(api, driver_handle=worker)) == on_route
    assert sorted(list_handles(api, route_handle=route)) == on_route
    assert list_handles(api, worker_handle="somebody-else") == []
    assert loose not in list_handles(api, route_handle=route)


def test_ops_group_filter(api: TestClient) -> None:
    """ops_group_handle selects the orders of one ops group."""
    group = _group(api, "UTC")
    [inside] = create_orders(api, order_body(), ops_group_handle=group)
    outside = create_order(api)
    assert list_handles(api, ops_group_handle=group) == [inside["order_handle"]]
    assert list_handles(api, ops_group_handle="default") == [outside["order_handle"]]


def test_plan_id_filter(api: TestClient, tenant: Tenant, db: Database) -> None:
    """plan_id selects the orders of one plan."""
    planned, other = create_order(api)["order_handle"], create_order(api)["order_handle"]
    # Plans are written by the planning job, which these tests do not run.
    set_columns(db, tenant.account_id, planned, plan_id="7d4f2c1e-plan")
    assert list_handles(api, plan_id="7d4f2c1e-plan") == [planned]
    assert other not in list_handles(api, plan_id="7d4f2c1e-plan")
    assert list_handles(api, plan_id="no-such-plan") == []


def test_plan_mode_filter(api: TestClient) -> None:
    """plan_mode selects orders by how they were created; unknown modes are 422."""
    manual = create_order(api)["order_handle"]
    scheduled = handle()
    response = api.post("/orders/", json=create_orders_body(
        order_body(order_handle=scheduled), plan_mode="scheduled"))
    assert response.status_code == 201, response.text
    assert list_handles(api, plan_mode="manual") == [manual]
    assert list_handles(api, plan_mode="scheduled") == [scheduled]
    assert list_handles(api, plan_mode="pool") == []
    assert_validation(api.get("/orders/", params={"plan_mode": "magic"}), "query", "plan_mode")


def test_search_term_matches_handles_and_metadata(api: TestClient) -> None:
    """search_term is a case-insensitive substring of the handle or the metadata."""
    by_handle = create_order(api, order_handle="ALPHA-7", metadata={"customer": "acme"})
    by_meta = create_order(api, order_handle="beta-8", metadata={"customer": "Zeta Café"})
    assert list_handles(api, search_term="alpha") == [by_handle["order_handle"]]
    assert list_handles(api, search_term="zeta caf") == [by_meta["order_handle"]]
    assert list_handles(api, search_term="café") == [by_meta["order_handle"]]
    assert list_handles(api, search_term="nothing-like-it") == []


def test_search_term_wildcards_are_literal(api: TestClient) -> None:
    """% and _ in a search term match themselves, not anything."""
    percent = create_order(api, order_handle="100%-off", metadata={})
    create_order(api, order_handle="abc", metadata={})
    assert list_handles(api, search_term="%") == [percent["order_handle"]]
    assert list_handles(api, search_term="a_c") == []


def test_order_metadata_filter_matches_values_exactly(api: TestClient) -> None:
    """order_metadata_filter is JSON; values match with their JSON type."""
    acme = create_order(api, metadata={"customer": "acme", "count": 5, "vip": True,
                                       'odd"key.x': 1})["order_handle"]
    other = create_order(api, metadata={"customer": "globex", "count": "5",
                                        "vip": False})["order_handle"]

    def matching(value: object) -> list[str]:
        return list_handles(api, order_metadata_filter=json.dumps(value))

    assert matching({"customer": "acme"}) == [acme]
    assert matching({"count": 5}) == [acme]
    assert matching({"count": "5"}) == [other]
    assert matching({"vip": False}) == [other]
    assert matching({"customer": "acme", "vip": True}) == [acme]
    assert matching({"customer": "acme", "vip": False}) == []
    assert matching({'odd"key.x': 1}) == [acme]


@pytest.mark.parametrize("value", ["{not json", "[1, 2]", "{}", '{"a": {"b": 1}}', '{"a": NaN}'])
def test_bad_order_metadata_filter_is_422(api: TestClient, value: str) -> None:
    """A filter that is not a flat JSON object of scalars is a 422 naming it."""
    assert_validation(api.get("/orders/", params={"order_metadata_filter": value}), "query",
                      "order_metadata_filter")


def test_fulfillment_attempt_filter(api: TestClient) -> None:
    """fulfillment_attempt selects one attempt of re-created handles."""
    name = create_order(api)["order_handle"]
    assert api.post(f"/orders/{name}/cancel").status_code == 200
    create_order(api, order_handle=name)
    first = api.get("/orders/", params={"fulfillment_attempt": 0}).json()["orders"]
    second = api.get("/orders/", params={"fulfillment_attempt": 1}).json()["orders"]
    assert [(o["order_handle"], o["status"]) for o in first] == [(name, "cancelled")]
    assert [(o["order_handle"], o["status"]) for o in second] == [(name, "unplanned")]


def test_utc_day_and_window_filters(api: TestClient) -> None:
    """X_date is a UTC day; X_from is inclusive and X_to exclusive, with or without offset."""
    early = create_order(api, scheduled_after=None,
                         scheduled_at="2031-03-10T20:00:00Z")["order_handle"]
    late = create_order(api, scheduled_after=None,
                        scheduled_at="2031-03-11T00:30:00Z")["order_handle"]
    assert list_handles(api, scheduled_at_date="2031-03-10") == [early]
    assert list_handles(api, scheduled_at_date="2031-03-11") == [late]
    assert list_handles(api, scheduled_at_from="2031-03-10 20:00:00",
                        scheduled_at_to="2031-03-11 00:30:00") == [early]
    assert list_handles(api, scheduled_at_from="2031-03-11T06:00:00+05:30") == [late]
    assert sorted(list_handles(api, scheduled_at_to="2031-03-12 00:00:00")) == sorted(
        [early, late])


def test_without_tz_filters_use_the_order_time_zone(api: TestClient) -> None:
    """*_without_tz filters read each order's wall clock: Kolkata's day is not UTC's."""
    kolkata = _group(api, "Asia/Kolkata")
    # 20:00 UTC on the 10th is 01:30 on the 11th in Kolkata (UTC+05:30).
    [india] = create_orders(api, order_body(scheduled_after=None,
                                            scheduled_at="2031-03-10T20:00:00Z"),
                            ops_group_handle=kolkata)
    utc_late = create_order(api, scheduled_after=None, scheduled_at="2031-03-11T00:30:00Z")
    utc_early = create_order(api, scheduled_after=None, scheduled_at="2031-03-10T20:00:00Z")
    india_h, late_h, early_h = (o["order_handle"] for o in (india, utc_late, utc_early))

    assert sorted(list_handles(api, scheduled_at_date="2031-03-10")) == sorted(
        [india_h, early_h])
    assert sorted(list_handles(api, scheduled_at_date_without_tz="2031-03-11")) == sorted(
        [india_h, late_h])
    assert list_handles(api, scheduled_at_date_without_tz="2031-03-10") == [early_h]
    assert list_handles(api, scheduled_at_without_tz_from="2031-03-11 01:00:00",
                        scheduled_at_without_tz_to="2031-03-11 02:00:00") == [india_h]
    assert list_handles(api, scheduled_at_without_tz_from="2031-03-11 00:00:00",
                        scheduled_at_without_tz_to="2031-03-11 01:00:00") == [late_h]


def test_created_at_without_tz_filters_take_local_dates(api: TestClient) -> None:
    """created_at_date_without_tz and created_at_without_tz_from/to are local days."""
    kolkata = _group(api, "Asia/Kolkata")
    [india] = create_orders(api, order_body(), ops_group_handle=kolkata)
    created = datetime.fromisoformat(india["created_at"].replace("Z", "+00:00"))
    local_day = created.astimezone(ZoneInfo("Asia/Kolkata")).date()
    before, after = local_day - timedelta(days=1), local_day + timedelta(days=1)
    name = india["order_handle"]
    assert list_handles(api, created_at_date_without_tz=local_day.isoformat()) == [name]
    assert list_handles(api, created_at_date_without_tz=after.isoformat()) == []
    assert list_handles(api, created_at_without_tz_from=local_day.isoformat(),
                        created_at_without_tz_to=local_day.isoformat()) == [name]
    assert list_handles(api, created_at_without_tz_to=before.isoformat()) == []
    assert list_handles(api, created_at_date=created.date().isoformat()) == [name]


def test_created_at_instant_window_edges(api: TestClient) -> None:
    """created_at_from includes the instant itself and created_at_to excludes it."""
    order = create_order(api)
    name, created = order["order_handle"], order["created_at"]
    assert list_handles(api, created_at_from=created) == [name]
    assert list_handles(api, created_at_to=created) == []


def test_cancelled_and_completed_day_filters(api: TestClient) -> None:
    """cancelled_at_date and completed_at_date match the day of the stamp."""
    name = create_order(api)["order_handle"]
    cancelled = api.post(f"/orders/{name}/cancel").json()["cancelled_at"]
    day = datetime.fromisoformat(cancelled.replace("Z", "+00:00")).date()
    assert list_handles(api, cancelled_at_date=day.isoformat()) == [name]
    assert list_handles(api, cancelled_at_date=(day - timedelta(days=1)).isoformat()) == []
    assert list_handles(api, completed_at_date=day.isoformat()) == []


@pytest.mark.parametrize(("name", "value"), [
    ("created_at_date", "2031-02-30"),
    ("created_at_date", "2031-W10-1"),
    ("scheduled_at_date_without_tz", "tomorrow"),
    ("scheduled_at_from", "2031-03-10 25:00:00"),
    ("completed_at_to", "yesterday"),
    ("scheduled_at_without_tz_from", "2031-03-10T10:00:00+05:30"),
    ("created_at_without_tz_to", "2031-03-10 10:00:00"),
])
def test_malformed_time_filters_are_422_by_name(api: TestClient, name: str, value: str) -> None:
    """A malformed date or time filter is a 422 naming that filter."""
    assert_validation(api.get("/orders/", params={name: value}), "query", name)


def test_extreme_dates_are_answered_not_crashed(api: TestClient) -> None:
    """Dates at the edge of the calendar give empty pages, not errors."""
    create_order(api)
    for params in ({"created_at_date": "9999-12-31"}, {"created_at_date": "0001-01-01"},
                   {"scheduled_at_date_without_tz": "9999-12-31"},
                   {"scheduled_at_date_without_tz": "0001-01-01"},
                   {"created_at_without_tz_to": "9999-12-31"}):
        response = api.get("/orders/", params=params)
        assert response.status_code == 200, (params, response.text)
    assert len(list_handles(api, created_at_without_tz_to="9999-12-31")) == 1


def test_unknown_filter_is_422(api: TestClient) -> None:
    """An unknown filter, and region_filter without a geocoder, are refused, not ignored."""
    messages = assert_validation(
        api.get("/orders/", params={"region_filter": '{"city": "Pune"}'}), "query",
        "region_filter")
    assert "no geocoder is configured" in messages[0]
    assert_validation(api.get("/orders/", params={"colour": "red"}), "query", "colour")


def test_aggregate_false_is_accepted_and_true_answered(api: TestClient) -> None:
    """aggregate=false is the default (null block); aggregate=true answers the count block."""
    assert api.get("/orders/", params={"aggregate": "false"}).json()["aggregate"] is None
    response = api.get("/orders/", params={"aggregate": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["aggregate"]["orders"]["total"] == 0


def test_limit_defaults_to_50(api: TestClient) -> None:
    """Without limit a page holds 50 orders and a token for the rest."""
    create_orders(api, *(order_body() for _ in range(51)))
    body = api.get("/orders/").json()
    assert len(body["orders"]) == 50
    assert body["pagination_token"]
    rest = api.get("/orders/", params={"pagination_token": body["pagination_token"]}).json()
    assert len(rest["orders"]) == 1 and rest["pagination_token"] is None


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_limit_out_of_range_is_422(api: TestClient, limit: str) -> None:
    """limit is a positive integer."""
    assert_validation(api.get("/orders/", params={"limit": limit}), "query", "limit")


def test_limit_1000_is_accepted(api: TestClient) -> None:
    """The maximum limit is allowed."""
    create_order(api)
    assert len(api.get("/orders/", params={"limit": 1000}).json()["orders"]) == 1


def test_limit_above_1000_answers_1000_and_keeps_paging(api: TestClient) -> None:
    """A limit above 1000 is no error: pages hold 1000 and the token leads to the rest."""
    term = f"big-{uuid.uuid4().hex[:8]}"
    create_orders(api, *(order_body(metadata={"batch": term}) for _ in range(1000)))
    create_orders(api, order_body(metadata={"batch": term}))
    first = api.get("/orders/", params={"limit": 5000, "search_term": term}).json()
    assert len(first["orders"]) == 1000 and first["pagination_token"]
    rest = api.get("/orders/", params={"limit": 5000, "search_term": term,
                                       "pagination_token": first["pagination_token"]}).json()
    assert len(rest["orders"]) == 1 and rest["pagination_token"] is None
