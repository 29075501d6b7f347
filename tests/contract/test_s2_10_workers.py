"""Contract section 2.10 (and the planning inputs of section 6): workers and ops groups with
HyperTrack's payloads, work_status, the operations radius, schedules and automations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.contract.spec import answers, conforms, fails
from tests.factories import create_orders_body, order_body
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow

HOME = {"geometry": {"type": "Point", "coordinates": [-122.40, 37.79]}, "address": "Depot"}


def test_ops_group_with_hypertrack_fields(api: TestClient) -> None:
    """An ops group with operations radius, schedule and automations (and a field unknown
    here) answers 200 with them; PATCH changes them; an unknown group is a 404."""
    body = {
        "ops_group_handle": "store-sf", "ops_group_label": "Store SF", "timezone": "UTC",
        "ops_group_home": HOME, "operations_radius": 20000, "enforce_operations_radius": True,
        "schedule": [{"day_of_week": "MONDAY", "start_time": "09:00", "end_time": "17:00"}],
        "order_tracking_automation": {"type": "order_and_route", "mode": "auto_start",
                                      "lead_time": 600, "lag_time": 0},
        "work_status_automation": [{"type": "tracking", "mode": "auto"}],
        "route_planning_enabled": True,
    }
    group = answers("create_ops_group", api.post("/workers/ops-groups/", json=body))
    assert group["operations_radius"] == 20000 and group["enforce_operations_radius"] is True
    assert group["schedule"] == body["schedule"]
    assert group["order_tracking_automation"]["type"] == "order_and_route"
    assert "route_planning_enabled" not in group
    patched = answers("update_ops_group", api.patch("/workers/ops-groups/store-sf", json={
        "enforce_operations_radius": False}))
    assert patched["enforce_operations_radius"] is False
    fails("update_ops_group", api.patch("/workers/ops-groups/nope", json={}), 404, "HTTPError")
    fails("update_ops_group", api.patch("/workers/ops-groups/store-sf", json={
        "order_tracking_automation": {"lag_time": -1}}), 422, "ValidationError")


def test_worker_work_status(api: TestClient) -> None:
    """A HyperTrack worker (work_status, extra fields) answers 201 with work_status;
    POST /workers/{h}/work_status answers the worker; errors in the contract's shapes."""
    worker = answers("create_worker", api.post("/workers/", json={
        "worker_handle": "james@ht.com", "name": "James", "profile": {"zoneId": "4"},
        "work_status": {"available": True, "tracking": False},
        "device_info": {"os_name": "Android"}, "location": {"accuracy": 19.35}}))
    assert worker["work_status"] == {"available": True, "tracking": False}
    status = answers("work_status", api.post("/workers/james@ht.com/work_status", json={
        "available": False}))
    assert status["work_status"] == {"available": False, "tracking": False}
    conforms("Worker", answers("get_worker", api.get("/workers/james@ht.com")))
    fails("work_status", api.post("/workers/ghost/work_status", json={}), 404, "HTTPError")
    fails("work_status", api.post("/workers/james@ht.com/work_status",
                                  json={"tracking": [1]}), 422, "ValidationError")
    answers("delete_worker", api.delete("/workers/james@ht.com"))


def test_enforced_radius_refuses_orders_beyond_it(api: TestClient) -> None:
    """Section 6: with enforce_operations_radius, an order beyond operations_radius of the
    ops group home is refused at creation (422 naming it)."""
    answers("create_ops_group", api.post("/workers/ops-groups/", json={
        "ops_group_handle": "radius", "ops_group_home": HOME, "operations_radius": 1000,
        "enforce_operations_radius": True}))
    due = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    far = order_body(scheduled_at=due, scheduled_after=None,
                     destination={"geometry": {"type": "Point",
                                               "coordinates": [-122.27, 37.80]}})
    fails("create_orders", api.post("/orders/", json=create_orders_body(
        far, ops_group_handle="radius")), 422, "ValidationError")
    near = order_body(scheduled_at=due, scheduled_after=None,
                      destination={"geometry": {"type": "Point",
                                                "coordinates": [-122.401, 37.791]}})
    answers("create_orders", api.post("/orders/", json=create_orders_body(
        near, ops_group_handle="radius")))


def test_schedules_take_hypertrack_minutes(api: TestClient) -> None:
    """Section 6 names start_time "HH:mm" and end_time without a format; HyperTrack's own
    examples send end_time as minutes after midnight (1080 = 18:00). Both forms are taken,
    on workers and ops groups, and answered as HH:mm; out of range is a 422."""
    entry = {"day_of_week": "MONDAY", "start_time": "09:00", "end_time": 1080,
             "ops_group_handle": "default", "priority": None}
    worker = answers("create_worker", api.post("/workers/", json={
        "worker_handle": "minutes", "schedule": [entry, {"day_of_week": "TUESDAY",
                                                         "start_time": 0, "end_time": 1440}]}))
    assert [(e["start_time"], e["end_time"]) for e in worker["schedule"]] == [
        ("09:00", "18:00"), ("00:00", "23:59")]
    group = answers("create_ops_group", api.post("/workers/ops-groups/", json={
        "ops_group_handle": "minutes-group",
        "schedule": [{"day_of_week": "FRIDAY", "start_time": 480, "end_time": "16:30"}]}))
    assert group["schedule"][0]["start_time"] == "08:00"
    bad = fails("create_worker", api.post("/workers/", json={
        "worker_handle": "late", "schedule": [{**entry, "end_time": 1441}]}),
        422, "ValidationError")
    assert bad["detail"]["json"]["schedule"]["0"]["end_time"]


def test_planning_respects_work_status_and_the_group_schedule(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Section 6: a worker whose work_status is unavailable gets no route; a worker without
    a schedule of their own works the ops group's schedule, so a day outside it plans
    nobody."""
    off = add_worker(api, work_status={"available": False, "tracking": False})
    on = add_worker(api)
    day = tomorrow()
    plan_id = post_plan(api, [day_order(day, 13.40, 52.50), day_order(day, 13.41, 52.50)])
    run_jobs(db, settings)
    plan = answers("get_plan", api.get(f"/orders/plans/{plan_id}"))
    assert [r["worker_handle"] for r in plan["routes"]] == [on]
    assert off not in {r["worker_handle"] for r in plan["routes"]}

    other_day = (day + timedelta(days=3)).strftime("%A").upper()
    answers("create_ops_group", api.post("/workers/ops-groups/", json={
        "ops_group_handle": "weekly", "route_start_location": "driver_home",
        "schedule": [{"day_of_week": other_day, "start_time": "08:00", "end_time": 1080}]}))
    add_worker(api, ops_group_handle="weekly")
    plan_id = post_plan(api, [day_order(day, 13.40, 52.50)], ops_group_handle="weekly")
    run_jobs(db, settings)
    plan = answers("get_plan", api.get(f"/orders/plans/{plan_id}"))
    assert plan["routes"] == []
    assert plan["unplanned_orders"][0]["planning_failure_reason"]
