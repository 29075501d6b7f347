"""Workers and ops groups take HyperTrack's payloads (issue 15 item 4): unknown fields,
work_status, the operations radius, the ops group's schedule and automations, each through
the API and, where it matters, through planning.

Coordinates are around Berlin (0.01 degrees of longitude is about 680 m).
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.planning.optimizer.reasons import NO_SCHEDULE_OVERLAP, PLACE_CLOSED
from routekeeper.settings import Settings
from tests.factories import create_orders_body, worker_body
from tests.planning.helpers import run_jobs
from tests.planning.test_planning_model import (
    add_group,
    add_worker,
    east,
    geo,
    order,
    plan_day,
    post,
    read_plan,
    reasons,
    sequences,
    weekday,
)
from tests.workers.helpers import assert_validation_error

TRACKING_AUTOMATION = {"type": "route", "mode": "auto", "lead_time": 900, "lag_time": 600,
                       "approval": {"auto_cancel": True,
                                    "cancel_before_scheduled_in_seconds": 3600}}


def test_unknown_fields_are_ignored(api: TestClient) -> None:
    """A HyperTrack worker and ops group, with fields Routekeeper does not model (device
    info, summaries, locations), are created; the unknown fields are not returned."""
    group = api.post("/workers/ops-groups/", json={
        "ops_group_handle": "store-sf", "ops_group_label": "Store SF", "timezone": "UTC",
        "route_planning_enabled": True, "skills": ["x"],
        "ops_group_home": {"geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
                           "address": "Depot", "place_id": "abc"}})
    assert group.status_code == 200, group.text
    assert "route_planning_enabled" not in group.json()
    worker = api.post("/workers/", json=worker_body(
        device_info={"os_name": "Android"}, location_permission={"state": "always"},
        summary={"orders": {"total": 1}}, ops_group_handle="store-sf",
        schedule=[{"day_of_week": "MONDAY", "start_time": "09:00", "end_time": "17:00",
                   "priority": None, "label": "morning"}]))
    assert worker.status_code == 201, worker.text
    body = worker.json()
    assert "device_info" not in body and "summary" not in body
    assert body["schedule"] == [{"day_of_week": "MONDAY", "start_time": "09:00",
                                 "end_time": "17:00"}]


def test_work_status_is_set_and_returned(api: TestClient) -> None:
    """work_status on create, POST /workers/{h}/work_status (only what is sent changes) and
    PATCH all set it; every answer carries it; an unknown worker is a 404."""
    body = worker_body(work_status={"available": False, "tracking": True})
    created = api.post("/workers/", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["work_status"] == {"available": False, "tracking": True}
    assert created.json()["available"] is False
    handle = body["worker_handle"]
    response = api.post(f"/workers/{handle}/work_status", json={"available": True})
    assert response.status_code == 200, response.text
    assert response.json()["work_status"] == {"available": True, "tracking": True}
    response = api.post(f"/workers/{handle}/work_status", json={"tracking": False})
    assert response.json()["work_status"] == {"available": True, "tracking": False}
    patched = api.patch(f"/workers/{handle}", json={"work_status": {"available": False}})
    assert patched.json()["work_status"] == {"available": False, "tracking": False}
    assert api.get(f"/workers/{handle}").json()["work_status"]["available"] is False
    listed = api.get("/workers/").json()["workers"]
    assert next(w for w in listed if w["worker_handle"] == handle)["work_status"] == {
        "available": False, "tracking": False}
    assert api.post("/workers/ghost/work_status", json={"available": True}).status_code == 404
    assert_validation_error(api.post(f"/workers/{handle}/work_status",
                                     json={"available": "maybe"}), "json", "available")


def test_an_unavailable_worker_gets_no_orders(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """POST work_status available=false: planning gives that worker (at the orders' door) no
    orders; the other worker takes them. Available again, the near worker gets them."""
    day = plan_day()
    add_worker(api, "near", home=east(1))
    add_worker(api, "far", home=east(-8))
    assert api.post("/workers/near/work_status", json={"available": False}).status_code == 200
    orders = [order(f"ws-{i}", east(1 + 0.2 * i), day) for i in range(3)]
    plan_id = post(api, orders)
    run_jobs(db, settings)
    assert set(sequences(read_plan(api, plan_id))) == {"far"}
    assert api.post("/workers/near/work_status", json={"available": True}).status_code == 200
    assert api.post(f"/orders/plans/{plan_id}/trigger").status_code == 200
    run_jobs(db, settings)
    assert set(sequences(read_plan(api, plan_id))) == {"near"}


def test_operations_radius_is_stored_and_needs_a_home(api: TestClient) -> None:
    """operations_radius and enforce_operations_radius are returned; enforcing without a
    radius or an ops_group_home is a 422 naming the field."""
    add_group(api, "radius-a", ops_group_home=geo(east(0)), operations_radius=5000,
              enforce_operations_radius=True)
    group = api.get("/workers/ops-groups/radius-a").json()
    assert (group["operations_radius"], group["enforce_operations_radius"]) == (5000, True)
    assert_validation_error(api.post("/workers/ops-groups/", json={
        "ops_group_handle": "radius-b", "enforce_operations_radius": True,
        "operations_radius": 100}), "json", "enforce_operations_radius")
    assert_validation_error(api.patch("/workers/ops-groups/radius-a", json={
        "operations_radius": None, "ops_group_home": None}), "json", "operations_radius")
    assert_validation_error(api.post("/workers/ops-groups/", json={
        "ops_group_handle": "radius-c", "operations_radius": 0}), "json", "operations_radius")


def test_orders_outside_an_enforced_radius_are_refused(api: TestClient) -> None:
    """With the radius enforced, an order beyond it is a 422 naming it and nothing of the
    batch is stored; not enforced, the same order is taken."""
    add_group(api, "radius-create", ops_group_home=geo(east(0)), operations_radius=3000,
              enforce_operations_radius=True)
    day = plan_day()
    inside, outside = order("rc-in", east(2), day), order("rc-out", east(6), day)
    response = api.post("/orders/", json=create_orders_body(
        inside, outside, ops_group_handle="radius-create"))
    assert_validation_error(response, "json", "orders.1.destination")
    assert api.get("/orders/rc-in").status_code == 404
    assert api.patch("/workers/ops-groups/radius-create",
                     json={"enforce_operations_radius": False}).status_code == 200
    response = api.post("/orders/", json=create_orders_body(
        inside, outside, ops_group_handle="radius-create"))
    assert response.status_code == 201, response.text


def test_planning_gives_workers_only_orders_within_the_radius(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Orders taken before the radius was enforced: the next run plans those within it and
    leaves the one beyond it unplanned, though its worker could reach it."""
    day = plan_day()
    add_group(api, "radius-plan", ops_group_home=geo(east(0)))
    add_worker(api, "radius-w", home=east(0), ops_group_handle="radius-plan")
    near = [order(f"rp-near-{i}", east(1 + i), day) for i in range(2)]
    far = order("rp-far", east(9), day)
    plan_id = post(api, [*near, far], ops_group_handle="radius-plan")
    run_jobs(db, settings)
    assert reasons(read_plan(api, plan_id)) == {}
    assert api.patch("/workers/ops-groups/radius-plan", json={
        "operations_radius": 5000, "enforce_operations_radius": True}).status_code == 200
    assert api.post(f"/orders/plans/{plan_id}/trigger").status_code == 200
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert reasons(plan) == {"rp-far": PLACE_CLOSED}
    assert sorted(sequences(plan)["radius-w"]) == ["rp-near-0", "rp-near-1"]


def test_the_ops_group_schedule_is_its_workers_default(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker without a schedule works the ops group's: an order due before the group's
    shift starts is unplanned for schedule overlap; one in it is planned. A worker with a
    schedule of its own keeps it."""
    day = plan_day()
    add_group(api, "sched-group", schedule=[
        {"day_of_week": weekday(day), "start_time": "13:00", "end_time": "18:00"}])
    group = api.get("/workers/ops-groups/sched-group").json()
    assert group["schedule"] == [{"day_of_week": weekday(day), "start_time": "13:00",
                                  "end_time": "18:00"}]
    add_worker(api, "sched-w", home=east(0), ops_group_handle="sched-group")
    early = order("sched-early", east(1), day, "08:00", "10:00")
    late = order("sched-late", east(1), day, "14:00", "16:00")
    plan_id = post(api, [early, late], ops_group_handle="sched-group")
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert reasons(plan) == {"sched-early": NO_SCHEDULE_OVERLAP}
    # Its own schedule wins over the group's.
    assert api.patch("/workers/sched-w", json={"schedule": [
        {"day_of_week": weekday(day), "start_time": "07:00", "end_time": "12:00"}]}
    ).status_code == 200
    assert api.post(f"/orders/plans/{plan_id}/trigger").status_code == 200
    run_jobs(db, settings)
    assert reasons(read_plan(api, plan_id)) == {"sched-late": NO_SCHEDULE_OVERLAP}


def test_automations_are_stored_and_returned(api: TestClient) -> None:
    """order_tracking_automation and work_status_automation come back as sent; bad values
    are 422s naming them."""
    add_group(api, "auto-g", order_tracking_automation=TRACKING_AUTOMATION,
              work_status_automation=[{"type": "tracking", "mode": "auto"}])
    group = api.get("/workers/ops-groups/auto-g").json()
    assert group["order_tracking_automation"] == TRACKING_AUTOMATION
    assert group["work_status_automation"] == [{"type": "tracking", "mode": "auto"}]
    patched = api.patch("/workers/ops-groups/auto-g", json={"work_status_automation": []})
    assert patched.json()["work_status_automation"] == []
    assert patched.json()["order_tracking_automation"] == TRACKING_AUTOMATION
    bad: list[tuple[dict[str, Any], str]] = [
        ({"order_tracking_automation": {"type": "sometimes"}}, "order_tracking_automation.type"),
        ({"order_tracking_automation": {"lead_time": 86400}},
         "order_tracking_automation.lead_time"),
        ({"work_status_automation": [{"type": "never"}]}, "work_status_automation.0.type"),
    ]
    for fields, where in bad:
        assert_validation_error(api.patch("/workers/ops-groups/auto-g", json=fields),
                                "json", where)


def test_tracking_automation_follows_the_workers_route(api: TestClient) -> None:
    """work_status_automation tracking: work_status.tracking is whether the worker has a
    route being tracked, whatever was posted; without automation it is what was posted."""
    add_group(api, "auto-t", work_status_automation=[{"type": "tracking", "mode": "auto"}])
    add_worker(api, "auto-tw", ops_group_handle="auto-t")
    assert api.post("/workers/auto-tw/work_status", json={"tracking": True}).json()[
        "work_status"]["tracking"] is False
    day = plan_day()
    response = api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "auto-tw", "ops_group_handle": "auto-t",
        "orders": [order("auto-t-1", east(1), day)]})
    assert response.status_code == 201, response.text
    assert api.get("/workers/auto-tw").json()["work_status"]["tracking"] is True
    route = response.json()["route_handle"]
    assert api.post(f"/orders/routes/{route}/complete").status_code == 200
    assert api.get("/workers/auto-tw").json()["work_status"]["tracking"] is False


def test_available_automation_follows_the_schedule(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """work_status_automation available: work_status.available says whether the worker is on
    shift now (whatever was posted), and planning goes by the schedule alone."""
    add_group(api, "auto-a", work_status_automation=[{"type": "available"}])
    add_worker(api, "auto-aw", ops_group_handle="auto-a", home=east(0))
    # No schedule: the whole day is the shift, so the worker is available now.
    assert api.post("/workers/auto-aw/work_status", json={"available": False}).json()[
        "work_status"]["available"] is True
    day = plan_day()
    # A shift only on the plan day (two days ahead): not on shift now.
    response = api.patch("/workers/auto-aw", json={"schedule": [
        {"date": day.isoformat(), "start_time": "08:00", "end_time": "18:00"}]})
    assert response.json()["work_status"]["available"] is False
    plan_id = post(api, [order("auto-a-1", east(1), day)], ops_group_handle="auto-a")
    run_jobs(db, settings)
    assert set(sequences(read_plan(api, plan_id))) == {"auto-aw"}
