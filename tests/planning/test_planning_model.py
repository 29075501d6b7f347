"""The planning model through the HTTP API: product types, availability and time zones,
capacity, time windows, pick/drop pairs, priority, route start and end and the objective,
maximum distance, re-plans around routes being driven, determinism, and the plan list's
filters and summary.

Every problem is small (a handful of orders, one to three workers) so a run takes well under
a second. Coordinates are around Berlin; 0.01 degrees of longitude there is about 680 m.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.planning.optimizer.reasons import (
    DROPPED_FOR_PLAN,
    EXCEEDS_CAPACITY,
    EXCEEDS_MAX_DISTANCE,
    EXCEEDS_SHIFT_END,
    NO_SCHEDULE_OVERLAP,
    NO_SKILLED_WORKER,
    NO_WORKER,
    UNREACHABLE_BEFORE_LATE,
)
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.factories import iso, order_body, worker_body
from tests.planning.helpers import run_jobs
from tests.routes.helpers import events, leg, stored_route

Point = tuple[float, float]
HOME: Point = (13.40, 52.50)
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def plan_day() -> date:
    """A day ahead of the clock in every time zone used here (so estimates are not "now")."""
    return datetime.now(UTC).date() + timedelta(days=2)


def weekday(day: date) -> str:
    """The schedule name of ``day``'s weekday."""
    return DAYS[day.weekday()]


def local(day: date, hhmm: str, timezone: str = "UTC") -> str:
    """``hhmm`` on ``day`` in ``timezone``, as a UTC timestamp the API accepts."""
    return iso(datetime.combine(day, time.fromisoformat(hhmm), tzinfo=ZoneInfo(timezone)))


def stamp(value: str) -> datetime:
    """A timestamp the API wrote."""
    return datetime.fromisoformat(value)


def geo(p: Point) -> dict[str, Any]:
    """A location / destination at ``p``."""
    return {"geometry": {"type": "Point", "coordinates": [p[0], p[1]]}}


def add_group(api: TestClient, handle: str, **fields: Any) -> str:
    """Create an ops group (routes start at the worker's home unless told otherwise)."""
    body = {"ops_group_handle": handle, "route_start_location": "driver_home", **fields}
    response = api.post("/workers/ops-groups/", json=body)
    assert response.status_code == 200, response.text
    return handle


def add_worker(api: TestClient, handle: str, *, home: Point = HOME, **fields: Any) -> str:
    """Create a worker at ``home``, available all day every day unless told otherwise."""
    body = worker_body(worker_handle=handle, home=geo(home), schedule=[], product_types=[],
                       capacity=None)
    body.update(fields)
    response = api.post("/workers/", json=body)
    assert response.status_code == 201, response.text
    return handle


def order(handle: str, p: Point, day: date, after: str = "09:00", until: str = "17:00",
          timezone: str = "UTC", **fields: Any) -> dict[str, Any]:
    """An order at ``p`` due between ``after`` and ``until`` on ``day`` (local times)."""
    body = order_body(order_handle=handle, destination=geo(p),
                      scheduled_after=local(day, after, timezone),
                      scheduled_at=local(day, until, timezone))
    body.update(fields)
    return body


def post(api: TestClient, orders: list[dict[str, Any]], mode: str = "scheduled",
         **fields: Any) -> str:
    """POST the orders for planning; the plan id of the answer."""
    response = api.post("/orders/", json={"orders": orders, "plan_mode": mode, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["plan"]["id"])


def read_plan(api: TestClient, plan_id: str) -> dict[str, Any]:
    """GET /orders/plans/{plan_id}."""
    response = api.get(f"/orders/plans/{plan_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read_order(api: TestClient, handle: str, **params: Any) -> dict[str, Any]:
    """GET /orders/{order_handle}."""
    response = api.get(f"/orders/{handle}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read_route(api: TestClient, route_handle: str) -> dict[str, Any]:
    """GET /orders/routes/{route_handle} (the full route shape)."""
    response = api.get(f"/orders/routes/{route_handle}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sequences(plan: dict[str, Any]) -> dict[str, list[str]]:
    """Each route's order handles in sequence, by worker."""
    return {r["worker_handle"]: [o["order_handle"] for o in r["orders"]] for r in plan["routes"]}


def reasons(plan: dict[str, Any]) -> dict[str, str]:
    """The plan's unplanned orders and why."""
    return {o["order_handle"]: o["planning_failure_reason"] for o in plan["unplanned_orders"]}


def east(km: float, origin: Point = HOME) -> Point:
    """The point about ``km`` km east of ``origin`` (0.01 degrees is about 0.68 km)."""
    return (round(origin[0] + km * 0.01 / 0.68, 5), origin[1])


# 1. Product types -------------------------------------------------------------------------


def test_product_types_need_a_worker_with_all_of_them(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """An order needing product types its only worker lacks (one of two is not enough) is
    unplanned with the contract's reason; a worker with all of them gets it on a re-plan."""
    day = plan_day()
    add_worker(api, "frozen-only", product_types=["frozen"])
    both = order("skill-both", east(1), day, product_type=["frozen", "hazmat"])
    plain = order("skill-plain", east(2), day, product_type=["frozen"])
    plan_id = post(api, [both, plain])
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert plan["status"] == "completed"
    assert reasons(plan) == {"skill-both": NO_SKILLED_WORKER}
    assert sequences(plan) == {"frozen-only": ["skill-plain"]}
    assert read_order(api, "skill-both")["planning_failure_reason"] == NO_SKILLED_WORKER

    add_worker(api, "all-skills", home=east(1), product_types=["hazmat", "dry", "frozen"])
    assert api.post(f"/orders/plans/{plan_id}/trigger").status_code == 200
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert plan["unplanned_orders"] == []
    assert "skill-both" in sequences(plan)["all-skills"]
    detail = read_order(api, "skill-both")
    assert (detail["status"], detail["worker_handle"]) == ("assigned", "all-skills")
    assert detail["planning_failure_reason"] is None


# 2. Availability and the ops group's time zone ----------------------------------------------


def test_workers_off_on_the_plan_day_get_no_route(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker scheduled on another weekday and one whose unavailable_on lists the day get
    no route even though the orders are at their door; once available, they do."""
    day = plan_day()
    other_day = DAYS[(day.weekday() + 1) % 7]
    add_worker(api, "wrong-day", home=east(1),
               schedule=[{"day_of_week": other_day, "start_time": "08:00", "end_time": "18:00"}])
    add_worker(api, "day-off", home=east(1), unavailable_on=[day.isoformat()])
    add_worker(api, "on-shift", home=east(-8),
               schedule=[{"day_of_week": weekday(day), "start_time": "08:00",
                          "end_time": "18:00"}])
    orders = [order(f"avail-{i}", east(1 + 0.2 * i), day) for i in range(3)]
    plan_id = post(api, orders)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert plan["unplanned_orders"] == []
    assert {w: sorted(hs) for w, hs in sequences(plan).items()} == {
        "on-shift": [o["order_handle"] for o in orders]}

    # The control: the same worker, available, is the obvious choice (it lives there).
    response = api.patch("/workers/day-off", json={"unavailable_on": []})
    assert response.status_code == 200, response.text
    assert api.post(f"/orders/plans/{plan_id}/trigger").status_code == 200
    run_jobs(db, settings)
    assert set(sequences(read_plan(api, plan_id))) == {"day-off"}


@pytest.mark.parametrize("timezone", ["Pacific/Auckland", "America/Los_Angeles"])
def test_the_plan_day_and_shifts_are_local_to_the_ops_group(
    api: TestClient, db: Database, settings: Settings, timezone: str
) -> None:
    """With a time zone far from UTC, an order due 23:30 local belongs to that local day's
    plan and one due 00:30 local to the next day's, whatever the UTC date; shifts are local
    wall-clock times, and the estimated arrival lies in the order's window."""
    group = add_group(api, "far-away", timezone=timezone)
    day = plan_day()
    add_worker(api, "night-owl", ops_group_handle=group, schedule=[
        {"day_of_week": weekday(day), "start_time": "21:00", "end_time": "23:59"},
        {"day_of_week": weekday(day + timedelta(days=1)), "start_time": "00:00",
         "end_time": "02:00"},
    ])
    late = order("tz-late", east(1), day, "22:00", "23:30", timezone)
    early = order("tz-early", east(1), day + timedelta(days=1), "00:00", "00:30", timezone)
    post(api, [late, early], ops_group_handle=group)
    run_jobs(db, settings)
    for body, expected_day in ((late, day), (early, day + timedelta(days=1))):
        detail = read_order(api, body["order_handle"])
        plan = read_plan(api, detail["plan_id"])
        assert plan["fulfillment_date"] == expected_day.isoformat(), body["order_handle"]
        assert plan["ops_group_handle"] == group and plan["unplanned_orders"] == []
        assert (detail["status"], detail["worker_handle"]) == ("assigned", "night-owl")
        arrive = stamp(detail["estimate"]["arrive_at"])
        assert stamp(body["scheduled_after"]) <= arrive <= stamp(body["scheduled_at"])


# 3. Capacity --------------------------------------------------------------------------------


def test_worker_capacity_limits_the_load_of_a_route(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """The sum of capacity_used on a route stays within the worker's capacity: an order
    bigger than any worker's capacity is unplanned with the capacity reason; an order that
    would fit alone but not with the others is dropped for the plan (docs/optimizer.md:
    reasons are diagnosed on the order alone)."""
    day = plan_day()
    add_worker(api, "van", capacity=3)
    load = {"cap-big": 4, "cap-a": 2, "cap-b": 1, "cap-c": 1}
    orders = [order(h, east(1 + 0.3 * i), day, capacity_used=used)
              for i, (h, used) in enumerate(load.items())]
    plan_id = post(api, orders)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    (route,) = plan["routes"]
    planned = [o["order_handle"] for o in route["orders"]]
    assert sum(load[h] for h in planned) <= 3 and len(planned) == 2
    unplanned = reasons(plan)
    assert unplanned.pop("cap-big") == EXCEEDS_CAPACITY
    assert list(unplanned.values()) == [DROPPED_FOR_PLAN]
    assert set(planned) | set(unplanned) == {"cap-a", "cap-b", "cap-c"}


def test_route_capacity_and_worker_capacity_both_cap_a_route(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """The ops group's route_capacity caps every route, a worker's own smaller capacity caps
    theirs further; the overflow goes to the second worker, and what fits nowhere is
    dropped."""
    group = add_group(api, "small-routes", route_capacity=2)
    day = plan_day()
    add_worker(api, "roomy", ops_group_handle=group, capacity=10)
    add_worker(api, "tiny", ops_group_handle=group, home=east(3), capacity=1)
    orders = [order(f"rcap-{i}", east(0.5 + 0.2 * i), day) for i in range(4)]
    plan_id = post(api, orders, ops_group_handle=group)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    routes = sequences(plan)
    assert sorted(routes) == ["roomy", "tiny"]
    assert len(routes["roomy"]) == 2 and len(routes["tiny"]) == 1
    assert list(reasons(plan).values()) == [DROPPED_FOR_PLAN]


# 4. Time windows ----------------------------------------------------------------------------


def test_time_windows_and_shifts(api: TestClient, db: Database, settings: Settings) -> None:
    """Windows decide the sequence (not the distance from the start); every estimated arrival
    is in the shift and by its order's scheduled_at (arriving before scheduled_after means
    waiting for it: docs/optimizer.md, routes/estimates.py); orders no shift can serve are
    unplanned with the reason that says why."""
    day = plan_day()
    add_worker(api, "morning", schedule=[
        {"day_of_week": weekday(day), "start_time": "09:00", "end_time": "12:00"}])
    # Nearest first would be c, b, a; the windows only allow a, b, c.
    a = order("tw-a", east(3), day, "09:30", "09:45", expected_service_time=60)
    b = order("tw-b", east(2), day, "10:00", "10:15", expected_service_time=60)
    c = order("tw-c", east(1), day, "10:30", "10:45", expected_service_time=60)
    afternoon = order("tw-afternoon", east(1), day, "14:00", "16:00")
    # Its window opens before the shift and closes 5 minutes into it, 7 km away (~18 min).
    unreachable = order("tw-unreachable", east(7), day, "08:00", "09:05")
    # Reachable by 11:50, but 20 minutes of service end after the shift.
    overrun = order("tw-overrun", east(0.5), day, "11:50", "11:55",
                    expected_service_time=1200)
    plan_id = post(api, [c, a, afternoon, b, unreachable, overrun])
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert reasons(plan) == {"tw-afternoon": NO_SCHEDULE_OVERLAP,
                             "tw-unreachable": UNREACHABLE_BEFORE_LATE,
                             "tw-overrun": EXCEEDS_SHIFT_END}
    assert sequences(plan) == {"morning": ["tw-a", "tw-b", "tw-c"]}
    shift_start, shift_end = stamp(local(day, "09:00")), stamp(local(day, "12:00"))
    for body, listed in zip((a, b, c), plan["routes"][0]["orders"], strict=True):
        detail = read_order(api, body["order_handle"])
        arrive = stamp(detail["estimate"]["arrive_at"])
        assert listed["estimate"]["arrive_at"] == detail["estimate"]["arrive_at"]
        assert shift_start <= arrive <= stamp(body["scheduled_at"]), body["order_handle"]
        service_start = max(arrive, stamp(body["scheduled_after"]))
        assert service_start + timedelta(seconds=60) <= shift_end


def test_estimates_start_no_earlier_than_the_shift(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A wide window that opens before the worker's shift: the order is planned in the
    shift, and the route's estimates leave when the shift starts, not hours before."""
    day = plan_day()
    add_worker(api, "late-starter", schedule=[
        {"day_of_week": weekday(day), "start_time": "13:00", "end_time": "17:00"}])
    wide = order("wide-window", east(1), day, "08:00", "16:00")
    plan_id = post(api, [wide])
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert sequences(plan) == {"late-starter": ["wide-window"]}
    # The route leaves when the shift starts (docs/compatibility.md, route estimates).
    shift_start = stamp(local(day, "13:00"))
    assert stamp(plan["routes"][0]["scheduled_start_at"]) == shift_start
    arrive = stamp(read_order(api, "wide-window")["estimate"]["arrive_at"])
    assert arrive == shift_start + timedelta(seconds=leg(HOME, east(1))[1])


# 5. Pick and drop ---------------------------------------------------------------------------


def test_pick_and_drop_share_a_route_pick_first(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """The pick and the drop of one order_handle go on the same route, the pick first, even
    though each lies at another worker's door and the drop is nearer the start."""
    day = plan_day()
    add_worker(api, "west", home=east(0))
    add_worker(api, "east", home=east(4))
    pick = order("parcel", east(4), day, type="pick")
    drop = order("parcel", east(0.5), day, type="drop")
    others = [order("pd-near-west", east(0.3), day), order("pd-near-east", east(4.2), day)]
    plan_id = post(api, [drop, *others, pick])
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert plan["unplanned_orders"] == []
    (route,) = [r for r in plan["routes"]
                if any(o["order_handle"] == "parcel" for o in r["orders"])]
    kinds = [o["type"] for o in route["orders"] if o["order_handle"] == "parcel"]
    assert kinds == ["pick", "drop"]
    picked, dropped = read_order(api, "parcel", type="pick"), read_order(api, "parcel",
                                                                         type="drop")
    assert picked["route_handle"] == dropped["route_handle"] == route["route_handle"]
    assert stamp(picked["estimate"]["arrive_at"]) < stamp(dropped["estimate"]["arrive_at"])


# 6. Priority --------------------------------------------------------------------------------


def test_high_priority_is_kept_when_not_everything_fits(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """With room for one order of two, equal priorities keep the nearer one; a high-priority
    order far away is kept instead and the low one is dropped for the plan."""
    day = plan_day()
    for handle in ("equal", "ranked"):
        group = add_group(api, handle)
        add_worker(api, f"{handle}-driver", ops_group_handle=group, capacity=1)
    equal = post(api, [order("equal-near", east(0.5), day, priority="low"),
                       order("equal-far", east(6), day, priority="low")],
                 ops_group_handle="equal")
    ranked = post(api, [order("ranked-near", east(0.5), day, priority="low"),
                        order("ranked-far", east(6), day, priority="high")],
                  ops_group_handle="ranked")
    run_jobs(db, settings)
    control = read_plan(api, equal)
    assert sequences(control) == {"equal-driver": ["equal-near"]}
    assert reasons(control) == {"equal-far": DROPPED_FOR_PLAN}
    plan = read_plan(api, ranked)
    assert sequences(plan) == {"ranked-driver": ["ranked-far"]}
    assert reasons(plan) == {"ranked-near": DROPPED_FOR_PLAN}


# 7. Route start, end and objective ----------------------------------------------------------


def _legs(points: list[Point]) -> tuple[int, int]:
    pairs = [leg(a, b) for a, b in pairwise(points)]
    return sum(m for m, _ in pairs), sum(s for _, s in pairs)


def test_routes_start_at_the_ops_group_home_and_return_there(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """route_start_location ops_group_home and route_completion_type
    return_to_start_location: the route leaves the group's home, not the worker's, and its
    estimate ends back there, the drive back included."""
    depot = east(2)
    group = add_group(api, "depot", ops_group_home=geo(depot),
                      route_start_location="ops_group_home",
                      route_completion_type="return_to_start_location")
    day = plan_day()
    add_worker(api, "far-home", ops_group_handle=group, home=east(-20))
    places = {"depot-1": east(3), "depot-2": east(4)}
    plan_id = post(api, [order(h, p, day) for h, p in places.items()], ops_group_handle=group)
    run_jobs(db, settings)
    (listed,) = read_plan(api, plan_id)["routes"]
    route = read_route(api, listed["route_handle"])
    assert route["completion_type"] == "return_to_start_location"
    estimate = route["estimate"]
    assert estimate["start_location"] == estimate["end_location"] == geo(depot)["geometry"]
    sequence = [o["order_handle"] for o in route["orders"]]
    assert sorted(sequence) == ["depot-1", "depot-2"]
    distance, duration = _legs([depot, *(places[h] for h in sequence), depot])
    assert (estimate["distance"], estimate["duration"]) == (distance, duration)
    assert (listed["estimate"]["distance"], listed["estimate"]["duration"]) == (distance,
                                                                               duration)


def test_routes_start_at_each_workers_home_and_end_at_the_last_order(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """route_start_location driver_home: each worker gets the orders near their own home;
    end_at_last_order: the estimate ends at the last order, with no drive back."""
    group = add_group(api, "homes", route_completion_type="end_at_last_order",
                      objective_fn="minimise_distance")
    day = plan_day()
    west_home, east_home = east(0), east(10)
    add_worker(api, "w", ops_group_handle=group, home=west_home)
    add_worker(api, "e", ops_group_handle=group, home=east_home)
    places = {"home-w1": east(1), "home-w2": east(2), "home-e1": east(9), "home-e2": east(8)}
    plan_id = post(api, [order(h, p, day) for h, p in places.items()], ops_group_handle=group)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert sequences(plan) == {"w": ["home-w1", "home-w2"], "e": ["home-e1", "home-e2"]}
    for listed in plan["routes"]:
        route = read_route(api, listed["route_handle"])
        home = west_home if route["worker_handle"] == "w" else east_home
        stops = [places[o["order_handle"]] for o in route["orders"]]
        assert route["completion_type"] == "end_at_last_order"
        assert route["estimate"]["start_location"] == geo(home)["geometry"]
        assert route["estimate"]["end_location"] == geo(stops[-1])["geometry"]
        assert route["estimate"]["distance"] == _legs([home, *stops])[0]


def test_the_objective_weighs_waiting_or_only_distance(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Two orders at one worker's door, four hours apart: minimise_distance has that worker
    wait between them; minimise_time (waiting is time) sends the other worker to the
    later one instead."""
    day = plan_day()
    for objective in ("minimise_distance", "minimise_time"):
        group = add_group(api, objective, objective_fn=objective)
        add_worker(api, f"{objective}-near", ops_group_handle=group)
        add_worker(api, f"{objective}-far", ops_group_handle=group, home=east(4))
        post(api, [order(f"{objective}-morning", east(0.5), day, "09:00", "09:30"),
                   order(f"{objective}-afternoon", east(1), day, "13:00", "13:30")],
             ops_group_handle=group)
    run_jobs(db, settings)
    by_distance = read_order(api, "minimise_distance-morning")["plan_id"]
    assert sequences(read_plan(api, by_distance)) == {
        "minimise_distance-near": ["minimise_distance-morning", "minimise_distance-afternoon"]}
    by_time = read_order(api, "minimise_time-morning")["plan_id"]
    assert sequences(read_plan(api, by_time)) == {
        "minimise_time-near": ["minimise_time-morning"],
        "minimise_time-far": ["minimise_time-afternoon"]}


# 8. Maximum route distance ------------------------------------------------------------------


def test_orders_beyond_the_maximum_route_distance_are_unplanned(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """An order farther than route_max_distance allows is unplanned with the max-distance
    reason; the planned route stays within the limit."""
    group = add_group(api, "short-hops", route_max_distance=5000)
    day = plan_day()
    add_worker(api, "local", ops_group_handle=group)
    near, far = order("md-near", east(1), day), order("md-far", east(8), day)
    assert leg(HOME, east(8))[0] > 5000 > leg(HOME, east(1))[0]
    plan_id = post(api, [far, near], ops_group_handle=group)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert reasons(plan) == {"md-far": EXCEEDS_MAX_DISTANCE}
    (route,) = plan["routes"]
    assert [o["order_handle"] for o in route["orders"]] == ["md-near"]
    assert route["estimate"]["distance"] <= 5000


# 9. Re-plans around routes being driven ------------------------------------------------------


def test_a_scheduled_replan_never_changes_a_tracking_route(
    api: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    """Once a route is tracking, a scheduled run leaves it exactly as it is (orders,
    sequence, version, estimates) even for an order on its way; that order goes to another
    worker."""
    day = plan_day()
    add_worker(api, "driving")
    add_worker(api, "spare", home=east(12))
    plan_id = post(api, [order("trk-1", east(1), day), order("trk-3", east(3), day)])
    run_jobs(db, settings)
    (listed,) = read_plan(api, plan_id)["routes"]
    handle = listed["route_handle"]
    started = api.post("/orders/track", json={"route_handle": handle, "track_mode": "on_time"})
    assert started.status_code == 201, started.text
    before = stored_route(db, tenant.account_id, handle)
    assert before["status"] == "tracking"

    assert post(api, [order("trk-2", east(2), day)]) == plan_id
    run_jobs(db, settings)
    assert stored_route(db, tenant.account_id, handle) == before
    assert sequences(read_plan(api, plan_id)) == {"driving": ["trk-1", "trk-3"],
                                                  "spare": ["trk-2"]}


def test_on_demand_inserts_into_a_tracking_route_after_what_is_done(
    api: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    """on_demand plans a new order into the route being driven (warm start): the orders
    already completed stay first, in their sequence, and the rest is planned from where the
    worker is now (the last completed order), not from the route's start."""
    day = plan_day()
    add_worker(api, "ada")
    plan_id = post(api, [order(f"od-{i}", east(3 + i), day) for i in (1, 2, 3)])
    run_jobs(db, settings)
    (listed,) = read_plan(api, plan_id)["routes"]
    handle = listed["route_handle"]
    assert [o["order_handle"] for o in listed["orders"]] == ["od-1", "od-2", "od-3"]
    started = api.post("/orders/track", json={"route_handle": handle, "track_mode": "on_time"})
    assert started.status_code == 201, started.text
    for done in ("od-1", "od-2"):
        assert api.post(f"/orders/{done}/complete", json={}).status_code == 200
    ongoing = read_order(api, "od-3")

    # Near the start: planned from there it would come before od-3; from od-2 it comes last.
    assert post(api, [order("od-new", east(0.5), day)], mode="on_demand") == plan_id
    run_jobs(db, settings)
    route = read_route(api, handle)
    assert route["status"] == "tracking"
    assert [(o["order_handle"], o["status"]) for o in route["orders"]] == [
        ("od-1", "completed"), ("od-2", "completed"), ("od-3", "ongoing"),
        ("od-new", "ongoing")]
    assert read_order(api, "od-new")["route_handle"] == handle
    again = read_order(api, "od-3")
    assert (again["started_at"], again["assigned_at"], again["worker_handle"]) == (
        ongoing["started_at"], ongoing["assigned_at"], "ada")


def test_on_demand_keeps_the_stop_under_way_next(
    api: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    """The first open order of a tracking route is under way (the worker is driving to it):
    an on_demand run keeps it next on the route, even when a new order lies on the way."""
    day = plan_day()
    add_worker(api, "bo")
    plan_id = post(api, [order(f"uw-{i}", east(2 * i), day) for i in (1, 2, 3)])
    run_jobs(db, settings)
    (listed,) = read_plan(api, plan_id)["routes"]
    handle = listed["route_handle"]
    assert [o["order_handle"] for o in listed["orders"]] == ["uw-1", "uw-2", "uw-3"]
    started = api.post("/orders/track", json={"route_handle": handle, "track_mode": "on_time"})
    assert started.status_code == 201, started.text
    assert api.post("/orders/uw-1/complete", json={}).status_code == 200

    # Between uw-1 and uw-2: planned freely it would come before uw-2.
    assert post(api, [order("uw-new", east(3), day)], mode="on_demand") == plan_id
    run_jobs(db, settings)
    route = read_route(api, handle)
    sequence = [o["order_handle"] for o in route["orders"]]
    assert sequence[:2] == ["uw-1", "uw-2"] and set(sequence[2:]) == {"uw-new", "uw-3"}
    assert read_order(api, "uw-2")["worker_handle"] == "bo"


def test_a_replan_does_not_assign_again_what_stays_with_its_worker(
    api: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    """A second run that adds an order to a worker's route leaves the orders already there
    as they were: the same route, planned_at and assigned_at, and no second "assigned"
    webhook or timeline entry; the new order gets its own."""
    day = plan_day()
    add_worker(api, "keeper")
    plan_id = post(api, [order("stay-1", east(1), day), order("stay-3", east(3), day)])
    run_jobs(db, settings)
    (listed,) = read_plan(api, plan_id)["routes"]
    before = {h: read_order(api, h) for h in ("stay-1", "stay-3")}

    assert post(api, [order("stay-2", east(2), day)]) == plan_id
    run_jobs(db, settings)
    (route,) = read_plan(api, plan_id)["routes"]
    assert route["route_handle"] == listed["route_handle"]
    assert [o["order_handle"] for o in route["orders"]] == ["stay-1", "stay-2", "stay-3"]
    for handle, earlier in before.items():
        now = read_order(api, handle)
        assert (now["status"], now["route_handle"], now["worker_handle"]) == (
            "assigned", route["route_handle"], "keeper")
        assert (now["planned_at"], now["assigned_at"]) == (earlier["planned_at"],
                                                           earlier["assigned_at"])
        assert [t["type"] for t in now["timeline"]].count("order_assigned") == 1
        assert events(db, tenant.account_id, order_handle=handle).count("assigned") == 1
    assert events(db, tenant.account_id, order_handle="stay-2").count("assigned") == 1


# 10. Determinism ----------------------------------------------------------------------------


def test_the_same_problem_and_seed_give_the_same_plan(
    tenant: Tenant, other_tenant: Tenant, db: Database, settings: Settings
) -> None:
    """The same orders and workers in two accounts, solved with the same seed, give the same
    routes in the same sequences."""
    day = plan_day()
    plans = []
    for account in (tenant, other_tenant):
        api = account.client
        add_worker(api, "same-west", capacity=3)
        add_worker(api, "same-east", home=east(5), capacity=3)
        bodies = [order(f"same-{i}", (HOME[0] + 0.013 * (i % 3), HOME[1] + 0.009 * (i // 3)),
                        day, f"{9 + i % 3:02d}:00", f"{13 + i % 4:02d}:00")
                  for i in range(6)]
        plans.append((api, post(api, bodies)))
    run_jobs(db, settings)
    first, second = (sequences(read_plan(api, plan_id)) for api, plan_id in plans)
    assert sum(len(hs) for hs in first.values()) == 6
    assert first == second


# 11. The plan list: ops group and status filters, summaries ----------------------------------


def test_plan_list_filters_by_ops_group_and_status(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """ops_group_handle picks one group's plan of the day; status finds plans planning,
    completed and failed (a group without workers fails)."""
    day = plan_day()
    add_group(api, "staffed")
    add_group(api, "empty")
    add_worker(api, "crew", ops_group_handle="staffed")
    staffed = post(api, [order("lf-staffed", east(1), day)], ops_group_handle="staffed")
    empty = post(api, [order("lf-empty", east(1), day)], ops_group_handle="empty")
    assert staffed != empty

    def listed(**params: Any) -> list[str]:
        response = api.get("/orders/plans", params=params)
        assert response.status_code == 200, response.text
        return [p["plan_id"] for p in response.json()["plans"]]

    assert listed(status="planning", sort_direction="asc") == [staffed, empty]
    run_jobs(db, settings)
    assert listed(ops_group_handle="staffed") == [staffed]
    assert listed(ops_group_handle="empty") == [empty]
    assert listed(ops_group_handle="default") == []
    assert listed(status="completed") == [staffed]
    assert listed(status="failed") == [empty]
    assert listed(status="planning") == []
    assert listed(status="failed", ops_group_handle="staffed") == []
    assert listed(fulfillment_date=day.isoformat(), ops_group_handle="empty") == [empty]
    failed = read_plan(api, empty)
    assert failed["failure_reason"] == "No Workers Available"
    assert reasons(failed) == {"lf-empty": NO_WORKER}


def test_plan_summary_matches_the_plans_own_routes_and_orders(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """include_summary gives each plan's order counts by status, its routes, drivers and
    estimated totals, all as the plan's own routes and orders show them."""
    day = plan_day()
    add_worker(api, "sum-a", capacity=2)
    add_worker(api, "sum-b", home=east(3), capacity=2)
    bodies = [order(f"sum-{i}", east(0.5 + 0.7 * i), day) for i in range(4)]
    bodies.append(order("sum-skill", east(1), day, product_type=["crane"]))
    plan_id = post(api, bodies)
    run_jobs(db, settings)
    assert api.post("/orders/sum-0/cancel", json={}).status_code == 200

    listing = api.get("/orders/plans", params={"include_summary": "true"}).json()["plans"]
    (item,) = [p for p in listing if p["plan_id"] == plan_id]
    plan = read_plan(api, plan_id)
    summary = item["summary"]
    assert summary == plan["summary"]
    on_routes = [o for r in plan["routes"] for o in r["orders"]]
    statuses = [o["status"] for o in on_routes]
    assert len(plan["routes"]) == 2 and len(on_routes) == 4
    assert summary["orders"] == {
        "total": 5, "planned": len(on_routes), "unplanned": len(plan["unplanned_orders"]),
        "assigned": len(on_routes), "completed": statuses.count("completed"),
        "cancelled": statuses.count("cancelled"),
    }
    assert summary["orders"]["cancelled"] == 1 and summary["orders"]["unplanned"] == 1
    assert summary["routes"] == len(plan["routes"])
    assert summary["drivers"] == len({r["worker_handle"] for r in plan["routes"]}) == 2
    assert summary["estimate"] == {
        "distance": sum(r["estimate"]["distance"] for r in plan["routes"]),
        "duration": sum(r["estimate"]["duration"] for r in plan["routes"]),
    }
    assert summary["estimate"]["distance"] > 0
    finished = [o for o in on_routes if o["status"] in ("completed", "cancelled")]
    assert summary["distance"] == sum(o["distance"] or 0 for o in finished)
    assert summary["duration"] == sum(o["duration"] or 0 for o in finished)
