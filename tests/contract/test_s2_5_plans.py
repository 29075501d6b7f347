"""Contract section 2.5 (and 3.6): plans, listed and read with their routes in full as the
contract's example shows them (issue 15 item 1)."""

from __future__ import annotations

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.contract.spec import answers, conforms, fails
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow


def test_plans_show_full_routes_and_their_orders(api: TestClient, db: Database,
                                                 settings: Settings) -> None:
    """Listed and by id, a plan's routes carry estimate (with polyline and ends) and orders
    with destination, window, metadata and the rest of the example's fields."""
    add_worker(api)
    day = tomorrow()
    plan_id = post_plan(api, [day_order(day, 13.40, 52.50), day_order(day, 13.42, 52.51),
                              day_order(day, 140.0, -80.0)])
    run_jobs(db, settings)
    listed = answers("list_plans", api.get("/orders/plans", params={
        "include_summary": "true", "fulfillment_date": day.isoformat()}))
    assert set(listed) == {"plans", "pagination_token"}
    (plan,) = listed["plans"]
    conforms("Plan", plan)
    conforms("PlanSummary", plan["summary"])
    (route,) = plan["routes"]
    conforms("Route", route)
    conforms("PlanRouteEstimate", route["estimate"])
    assert len(route["orders"]) == 2 and route["plan_mode"] == "scheduled"
    assert [o["order_handle"] for o in plan["unplanned_orders"]] != []
    assert plan["unplanned_orders"][0]["planning_failure_reason"]
    by_id = answers("get_plan", api.get(f"/orders/plans/{plan_id}"))
    assert by_id["routes"] == plan["routes"]


def test_plan_errors(api: TestClient) -> None:
    """An unknown plan is a 404 HTTPError; a bad date a nested 422."""
    fails("get_plan", api.get("/orders/plans/nope"), 404, "HTTPError")
    body = fails("list_plans", api.get("/orders/plans", params={"fulfillment_date": "x"}),
                 422, "ValidationError")
    assert list(body["detail"]["query"]) == ["fulfillment_date"]
