"""Windows and days through the HTTP API: several windows per order, soft windows with a
lateness cost, breaks in a worker's schedule, reloads at the ops group home and the
balance_time objective, each validated with contract-shaped 422s and shown on routes.

Coordinates are around Berlin (0.01 degrees of longitude is about 680 m); problems are small
so that each run takes well under a second.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.planning.optimizer.reasons import (
    DROPPED_FOR_PLAN,
    EXCEEDS_CAPACITY,
    NO_SCHEDULE_OVERLAP,
    NO_SKILLED_WORKER,
)
from routekeeper.settings import Settings
from tests.planning.helpers import run_jobs
from tests.planning.test_planning_model import (
    add_group,
    add_worker,
    east,
    geo,
    local,
    order,
    plan_day,
    post,
    read_order,
    read_plan,
    read_route,
    reasons,
    sequences,
    stamp,
    weekday,
)


def shift(day: Any, start: str = "08:00", end: str = "18:00",
          **fields: Any) -> list[dict[str, Any]]:
    """A one-entry schedule on ``day``'s weekday."""
    return [{"day_of_week": weekday(day), "start_time": start, "end_time": end, **fields}]


def windows(day: Any, *spans: tuple[str, str]) -> list[dict[str, str]]:
    """time_windows from (after, before) local times on ``day``."""
    return [{"after": local(day, a), "before": local(day, b)} for a, b in spans]


def instants(spans: list[dict[str, str]] | None) -> list[tuple[Any, Any]] | None:
    """Windows as pairs of instants (the API writes milliseconds and Z)."""
    if spans is None:
        return None
    return [(stamp(w["after"]), stamp(w["before"])) for w in spans]


def field_errors(response: Any) -> str:
    """The 422 body as text, after checking its status and contract shape."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert "detail" in body or "errors" in body or "message" in body, body
    return str(body)


# Several windows -------------------------------------------------------------------------


def test_an_order_is_served_in_its_first_window_the_worker_can_make(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker starting at 11:00 cannot make the 09:00-09:30 window, so the order is planned
    in its 14:00-15:00 window; an order whose windows all close before the shift is unplanned
    as outside the schedule; both orders show their windows."""
    day = plan_day()
    add_worker(api, "late-starter", schedule=shift(day, "11:00", "18:00"))
    two = order("win-two", east(1), day, "09:00", "15:00",
                time_windows=windows(day, ("09:00", "09:30"), ("14:00", "15:00")))
    early = order("win-early", east(2), day, "08:00", "15:00",
                  time_windows=windows(day, ("08:00", "08:30"), ("09:00", "10:00")))
    plan_id = post(api, [two, early])
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert sequences(plan) == {"late-starter": ["win-two"]}
    assert reasons(plan) == {"win-early": NO_SCHEDULE_OVERLAP}
    detail = read_order(api, "win-two")
    assert instants(detail["time_windows"]) == instants(two["time_windows"])
    arrive = stamp(detail["estimate"]["arrive_at"])
    assert stamp(local(day, "13:30")) <= arrive <= stamp(local(day, "15:00"))


def test_time_windows_are_validated(api: TestClient) -> None:
    """Overlapping, reversed or out-of-envelope windows and a lateness cost out of range are
    422s naming the field; a PATCH that moves scheduled_at before the last window is a 422
    and changes nothing; a valid PATCH replaces the windows and null clears them."""
    day = plan_day()
    cases = [
        windows(day, ("09:00", "10:00"), ("09:30", "11:00")),
        windows(day, ("10:00", "09:00")),
        windows(day, ("08:00", "10:00")),  # before scheduled_after 09:00
        windows(day, ("16:00", "18:00")),  # after scheduled_at 17:00
    ]
    for spans in cases:
        body = order("win-bad", east(1), day, time_windows=spans)
        response = api.post("/orders/", json={"orders": [body], "plan_mode": "scheduled"})
        assert "time_windows" in field_errors(response)
    body = order("win-cost", east(1), day, lateness_cost_per_minute=100_000)
    response = api.post("/orders/", json={"orders": [body], "plan_mode": "manual"})
    assert "lateness_cost_per_minute" in field_errors(response)

    good = order("win-ok", east(1), day, time_windows=windows(day, ("09:00", "10:00"),
                                                               ("15:00", "16:00")))
    assert api.post("/orders/", json={"orders": [good], "plan_mode": "manual"}).status_code == 201
    response = api.patch("/orders/win-ok", json={"scheduled_at": local(day, "15:30")})
    assert "scheduled_at" in field_errors(response)
    assert stamp(read_order(api, "win-ok")["scheduled_at"]) == stamp(good["scheduled_at"])
    replaced = windows(day, ("11:00", "12:00"))
    response = api.patch("/orders/win-ok", json={"time_windows": replaced,
                                                 "lateness_cost_per_minute": 30})
    assert response.status_code == 200, response.text
    detail = read_order(api, "win-ok")
    assert instants(detail["time_windows"]) == instants(replaced)
    assert detail["lateness_cost_per_minute"] == 30
    assert api.patch("/orders/win-ok", json={"time_windows": None}).status_code == 200
    assert read_order(api, "win-ok")["time_windows"] is None


# Soft windows -----------------------------------------------------------------------------


def test_a_soft_window_is_served_late_instead_of_unplanned(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker starting at 11:00 and two orders due by 09:30: the hard one is unplanned, the
    one with a lateness cost is planned late, after the shift starts."""
    day = plan_day()
    add_worker(api, "sleepy", schedule=shift(day, "11:00", "18:00"))
    hard = order("soft-no", east(1), day, "09:00", "09:30")
    soft = order("soft-yes", east(1.5), day, "09:00", "09:30", lateness_cost_per_minute=5)
    plan_id = post(api, [hard, soft])
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert sequences(plan) == {"sleepy": ["soft-yes"]}
    assert reasons(plan) == {"soft-no": NO_SCHEDULE_OVERLAP}
    detail = read_order(api, "soft-yes")
    assert detail["lateness_cost_per_minute"] == 5
    assert stamp(detail["estimate"]["arrive_at"]) >= stamp(local(day, "11:00"))


# Breaks -----------------------------------------------------------------------------------


def test_a_break_is_planned_inside_its_window_between_orders(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker with a 30-minute break between 12:00 and 13:00 and a day of hour-long orders:
    the route lists the break inside its window, and no order's service overlaps it."""
    day = plan_day()
    add_worker(api, "luncher", schedule=shift(day, "08:00", "18:00", breaks=[
        {"after": "12:00", "before": "13:00", "duration": 1800}]))
    worker = api.get("/workers/luncher").json()
    assert worker["schedule"][0]["breaks"] == [{"after": "12:00", "before": "13:00",
                                                "duration": 1800}]
    orders = [order(f"brk-{i}", east(1 + 0.3 * i), day, "09:00", "17:00",
                    expected_service_time=3600) for i in range(5)]
    plan_id = post(api, orders)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert plan["unplanned_orders"] == []
    (summary,) = plan["routes"]
    route = read_route(api, summary["route_handle"])
    (rest,) = route["breaks"]
    start, end = stamp(rest["start_at"]), stamp(rest["end_at"])
    assert stamp(local(day, "12:00")) <= start and end <= stamp(local(day, "13:00"))
    assert end - start == timedelta(minutes=30)
    assert route["reloads"] == []
    for item in route["orders"]:
        arrive = stamp(item["estimate"]["arrive_at"])
        begin = max(arrive, stamp(item["scheduled_after"]))
        service_end = begin + timedelta(seconds=3600)
        assert service_end <= start or begin >= end, item["order_handle"]


def test_breaks_are_validated(api: TestClient) -> None:
    """A break outside its shift, ending before it starts, or longer than its window is a 422
    naming the schedule; a valid one past midnight in a night shift is accepted."""
    day = plan_day()
    bad = [
        {"after": "07:00", "before": "09:00", "duration": 600},
        {"after": "13:00", "before": "12:00", "duration": 600},
        {"after": "12:00", "before": "12:10", "duration": 1200},
        {"after": "12:00", "before": "13:00", "duration": 0},
    ]
    for rest in bad:
        response = api.post("/workers/", json={
            "worker_handle": "brk-bad", "schedule": shift(day, breaks=[rest])})
        assert "schedule" in field_errors(response)
    response = api.post("/workers/", json={
        "worker_handle": "night", "schedule": shift(day, "22:00", "06:00", breaks=[
            {"after": "01:00", "before": "02:00", "duration": 1800}])})
    assert response.status_code == 201, response.text


# Reloads ----------------------------------------------------------------------------------


def test_reloads_at_the_depot_let_a_small_van_serve_more(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A van of capacity 2 and four orders: in an ops group that allows one reload at its
    home all four are planned, with a reload stop at the home between them; without reloads
    only two are."""
    day = plan_day()
    depot = east(0)
    common = {"ops_group_home": geo(depot), "route_start_location": "ops_group_home",
              "route_completion_type": "return_to_start_location"}
    add_group(api, "reloading", reloads={"max_reloads": 1, "service_time": 600}, **common)
    add_group(api, "single-trip", **common)
    add_worker(api, "small-van", ops_group_handle="reloading", capacity=2)
    add_worker(api, "other-van", ops_group_handle="single-trip", capacity=2)
    group = api.get("/workers/ops-groups/reloading").json()
    assert group["reloads"] == {"max_reloads": 1, "service_time": 600}

    def four(prefix: str) -> list[dict[str, Any]]:
        return [order(f"{prefix}-{i}", east(1 + 0.2 * i), day) for i in range(4)]

    plan_id = post(api, four("rl"), ops_group_handle="reloading")
    other_id = post(api, four("nr"), ops_group_handle="single-trip")
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert plan["unplanned_orders"] == []
    (summary,) = plan["routes"]
    route = read_route(api, summary["route_handle"])
    (reload_stop,) = route["reloads"]
    assert reload_stop["location"]["coordinates"] == list(depot)
    assert reload_stop["duration"] == 600
    handles = [o["order_handle"] for o in route["orders"]]
    assert reload_stop["after_order_handle"] == handles[1]
    assert stamp(reload_stop["end_at"]) - stamp(reload_stop["start_at"]) == timedelta(minutes=10)
    after = route["orders"][2]
    assert stamp(after["estimate"]["arrive_at"]) > stamp(reload_stop["end_at"])
    assert len(read_plan(api, other_id)["unplanned_orders"]) == 2


def test_reloads_need_a_home(api: TestClient) -> None:
    """Reloads without an ops_group_home, removing the home of a group that reloads, and a
    max_reloads of 0 are 422s; the group is unchanged."""
    response = api.post("/workers/ops-groups/", json={
        "ops_group_handle": "no-home", "reloads": {"max_reloads": 2}})
    assert "reloads" in field_errors(response)
    add_group(api, "has-home", ops_group_home=geo(east(0)), reloads={"service_time": 60})
    response = api.patch("/workers/ops-groups/has-home", json={"ops_group_home": None})
    assert "ops_group_home" in field_errors(response)
    assert api.get("/workers/ops-groups/has-home").json()["ops_group_home"] is not None
    response = api.patch("/workers/ops-groups/has-home", json={"reloads": {"max_reloads": 0}})
    assert "max_reloads" in field_errors(response)


# Balance ----------------------------------------------------------------------------------


def test_balance_time_shares_the_work_between_workers(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Two workers at one home and four hour-long orders nearby: minimise_time gives them all
    to one worker, balance_time two to each."""
    day = plan_day()
    add_group(api, "fair")
    for handle in ("fair-a", "fair-b"):
        add_worker(api, handle, ops_group_handle="fair", schedule=shift(day, "08:00", "20:00"))
    orders = [order(f"fair-{i}", east(1 + 0.1 * i), day, "08:00", "20:00",
                    expected_service_time=3600) for i in range(4)]
    plan_id = post(api, orders, ops_group_handle="fair")
    run_jobs(db, settings)
    assert sorted(len(v) for v in sequences(read_plan(api, plan_id)).values()) == [4]
    response = api.patch("/workers/ops-groups/fair", json={"objective_fn": "balance_time"})
    assert response.status_code == 200 and response.json()["objective_fn"] == "balance_time"
    assert api.post(f"/orders/plans/{plan_id}/trigger",
                    json={"plan_mode": "scheduled"}).status_code == 200
    run_jobs(db, settings)
    assert sorted(len(v) for v in sequences(read_plan(api, plan_id)).values()) == [2, 2]
    response = api.patch("/workers/ops-groups/fair", json={"objective_fn": "balance"})
    assert "objective_fn" in field_errors(response)


# Why --------------------------------------------------------------------------------------


def test_a_route_says_on_request_what_bound_it(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A van of capacity 2 with three orders whose windows open at 13:00: with explain=true
    its route says it ended on capacity (load 2 of 2) and left late for the first window to
    open; the third order is unplanned with a reason; without explain there is no bound_by."""
    day = plan_day()
    add_worker(api, "bound-van", capacity=2)
    orders = [order(f"bound-{i}", east(1 + 0.2 * i), day, "13:00", "17:00") for i in range(3)]
    plan_id = post(api, orders)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    (summary,) = plan["routes"]
    assert list(reasons(plan).values()) == [DROPPED_FOR_PLAN]
    handle = summary["route_handle"]
    assert "bound_by" not in read_route(api, handle)
    response = api.get(f"/orders/routes/{handle}", params={"explain": "true"})
    assert response.status_code == 200, response.text
    route = response.json()
    bound = route["bound_by"]
    assert bound["end"]["reason"] == "capacity"
    assert (bound["end"]["load"], bound["end"]["capacity"]) == (2, 2)
    assert bound["start"]["reason"] == "window_opens"
    assert bound["start"]["order_handle"] == route["orders"][0]["order_handle"]
    assert stamp(bound["start"]["start_at"]) == stamp(route["scheduled_start_at"])


def test_unplanned_orders_keep_their_diagnosed_reasons_across_runs(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Orders unplanned for different causes each carry their own reason; a re-plan of only
    one of them leaves the others' reasons as they were."""
    day = plan_day()
    add_worker(api, "why-worker", capacity=3, product_types=["dry"],
               schedule=shift(day, "08:00", "12:00"))
    cases = {
        "why-skill": order("why-skill", east(1), day, product_type=["frozen"]),
        "why-cap": order("why-cap", east(1), day, capacity_used=5),
        "why-late": order("why-late", east(1), day, "13:00", "14:00"),
    }
    plan_id = post(api, list(cases.values()))
    run_jobs(db, settings)
    expected = {"why-skill": NO_SKILLED_WORKER, "why-cap": EXCEEDS_CAPACITY,
                "why-late": NO_SCHEDULE_OVERLAP}
    assert reasons(read_plan(api, plan_id)) == expected
    response = api.post(f"/orders/plans/{plan_id}/trigger",
                        json={"orders": [{"order_handle": "why-cap"}], "plan_mode": "scheduled"})
    assert response.status_code == 200, response.text
    run_jobs(db, settings)
    assert reasons(read_plan(api, plan_id)) == expected
    for handle, reason in expected.items():
        assert read_order(api, handle)["planning_failure_reason"] == reason


def test_a_night_shift_past_midnight_is_planned(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A shift from 22:00 to 06:00 (an end before the start) runs past midnight: the only
    worker, on that shift, gets the evening order, serves it inside its window and starts
    no earlier than 22:00."""
    day = plan_day()
    add_worker(api, "night-shift", schedule=shift(day, "22:00", "06:00"))
    late = order("night-late", east(1), day, "23:00", "23:45")
    post(api, [late])
    run_jobs(db, settings)
    detail = read_order(api, "night-late")
    plan = read_plan(api, detail["plan_id"])
    assert plan["unplanned_orders"] == []
    assert (detail["status"], detail["worker_handle"]) == ("assigned", "night-shift")
    arrive = stamp(detail["estimate"]["arrive_at"])
    assert stamp(late["scheduled_after"]) <= arrive <= stamp(late["scheduled_at"])
    route = read_route(api, detail["route_handle"])
    assert stamp(route["estimate"]["start_by"]) >= stamp(local(day, "22:00"))
