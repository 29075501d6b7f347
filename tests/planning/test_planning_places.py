"""Planning respects the opening hours (timings) and closing days (closed_on) of places."""

from __future__ import annotations

from datetime import date, timedelta

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.planning.openings import ALL_DAY, CLOSED, opening_on
from routekeeper.planning.optimizer.reasons import PLACE_CLOSED
from routekeeper.settings import Settings
from tests.planning.helpers import run_jobs
from tests.planning.test_planning_model import (
    add_worker,
    east,
    local,
    order,
    plan_day,
    post,
    read_order,
    read_plan,
    reasons,
    stamp,
)

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _place(api: TestClient, handle: str, point: tuple[float, float], **fields: object) -> str:
    response = api.post("/places/v1/", json={
        "place_handle": handle, "geometry": {"type": "Point", "coordinates": list(point)},
        **fields})
    assert response.status_code == 200, response.text
    return handle


def test_orders_are_planned_inside_opening_hours_and_not_on_closed_days(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """An order at a shop open 14:00-16:00 is served then, not in its wider window; an order
    at a place closed that day, or open only outside its window, is unplanned."""
    day = plan_day()
    weekday = DAYS[day.weekday()]
    add_worker(api, "w-open")
    shop = _place(api, "shop-afternoon", east(1), timings=[
        {"day_of_week": weekday, "start_time": "14:00", "end_time": "16:00"}])
    holiday = _place(api, "shop-holiday", east(2), closed_on=[day.isoformat()])
    other_day = DAYS[(day.weekday() + 1) % 7]
    elsewhere = _place(api, "shop-other-day", east(3), timings=[
        {"day_of_week": other_day, "start_time": "09:00", "end_time": "17:00"}])
    morning = _place(api, "shop-morning", east(1.5), timings=[
        {"day_of_week": weekday, "start_time": "06:00", "end_time": "08:00"}])
    bodies = [order(f"pl-{name}", east(1), day, "09:00", "17:00") for name in
              ("shop", "holiday", "elsewhere", "morning")]
    for body, handle in zip(bodies, (shop, holiday, elsewhere, morning), strict=True):
        body["destination"] = {"place_handle": handle}
    plan_id = post(api, bodies)
    run_jobs(db, settings)
    plan = read_plan(api, plan_id)
    assert reasons(plan) == {"pl-holiday": PLACE_CLOSED, "pl-elsewhere": PLACE_CLOSED,
                             "pl-morning": PLACE_CLOSED}
    arrive = stamp(read_order(api, "pl-shop")["estimate"]["arrive_at"])
    service_start = max(arrive, stamp(local(day, "14:00")))
    assert stamp(local(day, "14:00")) <= service_start <= stamp(local(day, "16:00"))


def test_opening_on_joins_a_days_intervals_in_the_group_time_zone() -> None:
    """Several intervals of one weekday make one window, read in the given time zone."""
    monday = date(2031, 6, 2)
    timings = [{"day_of_week": "monday", "start_time": "13:00", "end_time": "17:00"},
               {"day_of_week": "MONDAY", "start_time": "08:00", "end_time": "12:00"}]
    opened = opening_on(timings, [], monday, "Europe/Helsinki")
    assert isinstance(opened, tuple)
    assert (opened[0].hour, opened[1].hour) == (5, 14)  # UTC, three hours behind in June
    assert opening_on(timings, ["2031-06-02"], monday, "UTC") == CLOSED
    assert opening_on(timings, [], monday + timedelta(days=1), "UTC") == CLOSED
    assert opening_on([], [], monday, "UTC") == ALL_DAY
