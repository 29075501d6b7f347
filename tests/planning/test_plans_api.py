"""Plans through the API: creating them with POST /orders/, running them, reading them."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow


def test_scheduled_orders_become_a_completed_plan(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Scheduled orders are planned in the background into routes; the plan completes."""
    day = tomorrow()
    worker = add_worker(api)
    orders = [day_order(day, 13.40 + i * 0.01, 52.50) for i in range(4)]
    plan_id = post_plan(api, orders)
    pending = api.get(f"/orders/plans/{plan_id}").json()
    assert pending["status"] == "planning" and pending["sequence_number"] == 0
    assert run_jobs(db, settings) >= 1
    plan = api.get(f"/orders/plans/{plan_id}").json()
    assert plan["status"] == "completed" and plan["sequence_number"] == 1
    assert plan["fulfillment_date"] == day.isoformat()
    assert plan["ops_group_handle"] == "default" and plan["unplanned_orders"] == []
    (route,) = plan["routes"]
    assert route["worker_handle"] == worker and route["plan_id"] == plan_id
    assert route["plan_mode"] == "scheduled" and route["status"] == "assigned"
    assert sorted(o["order_handle"] for o in route["orders"]) == sorted(
        o["order_handle"] for o in orders)
    assert plan["summary"]["orders"] == {"total": 4, "planned": 4, "unplanned": 0,
                                         "assigned": 4, "completed": 0, "cancelled": 0}
    assert plan["summary"]["routes"] == 1 and plan["summary"]["drivers"] == 1
    order = api.get(f"/orders/{orders[0]['order_handle']}").json()
    assert order["status"] == "assigned" and order["plan_id"] == plan_id


def test_unplannable_orders_say_why(api: TestClient, db: Database, settings: Settings) -> None:
    """An order no worker can serve is left unplanned with the contract's exact reason."""
    day = tomorrow()
    add_worker(api, product_types=["frozen"])
    skill = day_order(day, 13.40, 52.50, product_type=["hazmat"])
    ok = day_order(day, 13.41, 52.50, product_type=["frozen"])
    plan_id = post_plan(api, [skill, ok])
    run_jobs(db, settings)
    plan = api.get(f"/orders/plans/{plan_id}").json()
    assert plan["status"] == "completed"
    (unplanned,) = plan["unplanned_orders"]
    assert unplanned["order_handle"] == skill["order_handle"]
    assert unplanned["planning_failure_reason"] == (
        "No Worker supports the required product type for this order.")
    detail = api.get(f"/orders/{skill['order_handle']}").json()
    assert detail["status"] == "unplanned"
    assert detail["planning_failure_reason"] == unplanned["planning_failure_reason"]


def test_no_worker_fails_the_plan(api: TestClient, db: Database, settings: Settings) -> None:
    """Without any available worker the plan fails with "No Workers Available"."""
    day = tomorrow()
    add_worker(api, unavailable_on=[day.isoformat()])
    order = day_order(day, 13.40, 52.50)
    plan_id = post_plan(api, [order])
    run_jobs(db, settings)
    plan = api.get(f"/orders/plans/{plan_id}").json()
    assert plan["status"] == "failed" and plan["failure_reason"] == "No Workers Available"
    assert plan["unplanned_orders"][0]["planning_failure_reason"] == (
        "No Worker was available for this plan.")


def test_one_plan_per_group_and_day(api: TestClient, db: Database, settings: Settings) -> None:
    """A second request for the same day joins the same plan and bumps its sequence."""
    day = tomorrow()
    add_worker(api)
    first = post_plan(api, [day_order(day, 13.40, 52.50)])
    run_jobs(db, settings)
    second = post_plan(api, [day_order(day, 13.42, 52.51)])
    assert second == first
    run_jobs(db, settings)
    plan = api.get(f"/orders/plans/{first}").json()
    assert plan["sequence_number"] == 2 and plan["summary"]["orders"]["planned"] == 2


def test_trigger_replans_and_conflicts_while_running(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Trigger queues another run (200) and names unknown orders with a 404."""
    day = tomorrow()
    add_worker(api)
    order = day_order(day, 13.40, 52.50)
    plan_id = post_plan(api, [order])
    run_jobs(db, settings)
    response = api.post(f"/orders/plans/{plan_id}/trigger",
                        json={"orders": [{"order_handle": order["order_handle"]}]})
    assert response.status_code == 200, response.text
    assert response.json()["plan"]["id"] == plan_id
    run_jobs(db, settings)
    assert api.get(f"/orders/plans/{plan_id}").json()["sequence_number"] == 2
    missing = api.post(f"/orders/plans/{plan_id}/trigger",
                       json={"orders": [{"order_handle": "nope"}]})
    assert missing.status_code == 404 and missing.json()["code"] == "order_not_found"
    assert api.post("/orders/plans/unknown/trigger").status_code == 404


def test_list_filters_summary_and_pagination(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """GET /orders/plans filters, sorts, summarises and pages with tokens bound to filters."""
    add_worker(api)
    days = [tomorrow(), tomorrow() + timedelta(days=1)]
    ids = [post_plan(api, [day_order(d, 13.40, 52.50)]) for d in days]
    run_jobs(db, settings)
    listed = api.get("/orders/plans/").json()
    assert [p["plan_id"] for p in listed["plans"]] == ids[::-1]
    assert listed["plans"][0].get("summary") is None
    assert listed["pagination_token"] is None
    ascending = api.get("/orders/plans", params={"sort_direction": "asc"}).json()
    assert [p["plan_id"] for p in ascending["plans"]] == ids
    by_day = api.get("/orders/plans", params={"fulfillment_date": days[0].isoformat(),
                                              "include_summary": "true"}).json()
    assert [p["plan_id"] for p in by_day["plans"]] == [ids[0]]
    assert by_day["plans"][0]["summary"]["orders"]["total"] == 1
    # Each listed route is the full route object of the contract's example, as by id.
    listed_route = by_day["plans"][0]["routes"][0]
    assert listed_route == api.get(f"/orders/plans/{ids[0]}").json()["routes"][0]
    assert {"ops_group_handle", "plan_mode", "status", "worker_handle", "device_id", "version",
            "completed_at", "metadata", "embed_url", "estimate", "orders"} <= set(listed_route)
    assert {"start_by", "distance", "duration", "polyline", "start_location",
            "end_location"} <= set(listed_route["estimate"])
    assert {"destination", "scheduled_at", "scheduled_after", "metadata", "region",
            "risk_status", "expected_service_time", "product_type", "type", "capacity_used",
            "worker_handle", "device_id", "created_at"} <= set(listed_route["orders"][0])
    assert api.get("/orders/plans", params={"status": "failed"}).json()["plans"] == []
    page = api.get("/orders/plans", params={"limit": 1}).json()
    assert len(page["plans"]) == 1 and page["pagination_token"]
    rest = api.get("/orders/plans", params={"limit": 1,
                                            "pagination_token": page["pagination_token"]})
    assert [p["plan_id"] for p in rest.json()["plans"]] == [ids[0]]
    other = api.get("/orders/plans", params={"status": "completed",
                                             "pagination_token": page["pagination_token"]})
    assert other.status_code == 422
    assert "pagination_token" in other.json()["detail"]["query"]
    assert [p["plan_id"] for p in api.get("/orders/plans", params={"limit": 5000})
            .json()["plans"]] == ids[::-1]


def test_bad_query_values_are_422s_naming_the_parameter(api: TestClient) -> None:
    """A bad date, an unknown status, limit 0 and unknown parameters are 422s; a limit
    above 1000 is not an error."""
    for params, name in [({"fulfillment_date": "2024-13-01"}, "fulfillment_date"),
                         ({"fulfillment_date": "2024-1-1"}, "fulfillment_date"),
                         ({"status": "done"}, "status"), ({"limit": 0}, "limit"),
                         ({"sort_direction": "up"}, "sort_direction"),
                         ({"date": "2024-01-01"}, "date")]:
        response = api.get("/orders/plans", params=params)
        assert response.status_code == 422, params
        assert response.json()["message"] == "Validation error"
        assert name in response.json()["detail"]["query"], response.json()


def test_plans_are_tenant_scoped(api: TestClient, other_tenant: object, db: Database,
                                 settings: Settings) -> None:
    """Another account's plan is a 404 and never listed."""
    add_worker(api)
    plan_id = post_plan(api, [day_order(tomorrow(), 13.40, 52.50)])
    other = other_tenant.client  # type: ignore[attr-defined]
    assert other.get(f"/orders/plans/{plan_id}").status_code == 404
    assert other.post(f"/orders/plans/{plan_id}/trigger").status_code == 404
    assert other.get("/orders/plans").json()["plans"] == []


def test_sync_on_demand_answers_with_the_plan(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """on_demand with enable_sync_planning waits for a worker's run and returns the plan."""
    add_worker(api)
    quick = settings.model_copy(update={
        "planning": settings.planning.model_copy(update={"time_budget_s": 1.0, "processes": 1}),
    })
    runner = build_runner(db, quick)
    runner.start(1)
    try:
        order = day_order(tomorrow(), 13.40, 52.50)
        response = api.post("/orders/", json={"orders": [order], "plan_mode": "on_demand",
                                              "enable_sync_planning": True})
    finally:
        runner.stop()
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["message"] == "Order Planning Initiated"
    assert data["status"] == "completed" and data["plan_id"] == data["plan"]["id"]
    assert data["routes"][0]["orders"][0]["order_handle"] == order["order_handle"]
