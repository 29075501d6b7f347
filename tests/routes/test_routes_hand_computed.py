"""A three-stop route whose every estimate is worked out by hand from the straight-line model
(haversine x 1.3 at 30 km/h), through the API like a client."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.factories import order_body
from tests.routes.helpers import (
    Point,
    create_route,
    leg,
    make_group,
    make_orders,
    point,
    tomorrow_at,
    ts,
    window,
)

HOME: Point = (13.400, 52.500)
A: Point = (13.410, 52.500)
B: Point = (13.410, 52.510)
C: Point = (13.430, 52.510)


def _setup(api: TestClient) -> tuple[dict[str, Any], datetime, list[str]]:
    """A route home -> A -> B -> C with windows that make B wait and C's deadline bind."""
    make_group(api, "hand", home=HOME)
    t0 = tomorrow_at(8)
    # A: window 08:10-09:00, 5 min service. B: window 08:30-08:45, 10 min service (the
    # worker arrives early and waits). C: due 08:52, 2 min service: its deadline, pushed back
    # through B's service and the B->C leg, bounds everything before it.
    handles = make_orders(
        api,
        order_body(destination=point(*A), **window(t0, after_min=10, at_min=60, service_s=300)),
        order_body(destination=point(*B), **window(t0, after_min=30, at_min=45, service_s=600)),
        order_body(destination=point(*C), **window(t0, after_min=None, at_min=52,
                                                    service_s=120)),
        group="hand",
    )
    route = create_route(api, handles, ops_group_handle="hand")
    return route, t0, handles


def test_three_stop_route_estimates_match_hand_arithmetic(api: TestClient) -> None:
    """Arrivals, waits, per-order and route start_by, distance, duration and geometry."""
    route, t0, _ = _setup(api)
    (d_ha, s_ha), (d_ab, s_ab), (d_bc, s_bc) = leg(HOME, A), leg(A, B), leg(B, C)
    assert 600 < d_ha < 900 and 1_400 < d_ab < 1_600  # sanity: the points are where meant

    # Departure: just in time for A's window (08:10), which opens after "now".
    depart = t0 + timedelta(minutes=10) - timedelta(seconds=s_ha)
    arrive_a = depart + timedelta(seconds=s_ha)                   # 08:10, no wait
    arrive_b = arrive_a + timedelta(seconds=300 + s_ab)           # early: waits until 08:30
    arrive_c = t0 + timedelta(minutes=30, seconds=600 + s_bc)     # after the wait and service
    # Latest arrivals, backwards from C's deadline.
    latest_c = t0 + timedelta(minutes=52)
    latest_b = min(t0 + timedelta(minutes=45), latest_c - timedelta(seconds=s_bc + 600))
    latest_a = min(t0 + timedelta(minutes=60), latest_b - timedelta(seconds=s_ab + 300))
    assert latest_b < t0 + timedelta(minutes=45)  # C's deadline is the binding one

    estimate = route["estimate"]
    assert estimate["start_by"] == ts(latest_a - timedelta(seconds=s_ha))
    assert estimate["distance"] == d_ha + d_ab + d_bc
    assert estimate["duration"] == s_ha + s_ab + s_bc
    assert estimate["polyline"] == {"type": "LineString",
                                    "coordinates": [list(HOME), list(A), list(B), list(C)]}
    assert estimate["start_location"] == {"type": "Point", "coordinates": list(HOME)}
    assert estimate["end_location"] == {"type": "Point", "coordinates": list(C)}
    assert route["completion_type"] == "end_at_last_order"

    expected = [
        (arrive_a, latest_a - timedelta(seconds=s_ha), d_ha, s_ha),
        (arrive_b, latest_b - timedelta(seconds=s_ab), d_ab, s_ab),
        (arrive_c, latest_c - timedelta(seconds=s_bc), d_bc, s_bc),
    ]
    for order, (arrive, start_by, distance, duration) in zip(route["orders"], expected,
                                                              strict=True):
        assert order["estimate"]["arrive_at"] == ts(arrive)
        assert order["estimate"]["start_by"] == ts(start_by)
        assert order["estimate"]["distance"] == distance
        assert order["estimate"]["duration"] == duration


def test_scheduled_start_moves_the_estimates(api: TestClient) -> None:
    """PATCHing scheduled_start_at re-times the route from that departure."""
    route, t0, _ = _setup(api)
    (_, s_ha), (_, s_ab), (_, s_bc) = leg(HOME, A), leg(A, B), leg(B, C)
    start = t0 - timedelta(minutes=30)
    response = api.patch(f"/orders/routes/{route['route_handle']}",
                         json={"scheduled_start_at": ts(start)})
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["scheduled_start_at"] == ts(start)
    assert moved["version"] == route["version"] + 1
    arrive_a = start + timedelta(seconds=s_ha)  # 07:40-ish: waits for A's window
    arrive_b = t0 + timedelta(minutes=15, seconds=s_ab)
    arrive_c = t0 + timedelta(minutes=40, seconds=s_bc)
    arrivals = [o["estimate"]["arrive_at"] for o in moved["orders"]]
    assert arrivals == [ts(arrive_a), ts(arrive_b), ts(arrive_c)]
    # start_by depends on the deadlines only, not on when the worker actually leaves.
    assert moved["estimate"]["start_by"] == route["estimate"]["start_by"]


def test_return_to_start_closes_the_loop(api: TestClient) -> None:
    """With return_to_start_location the drive ends back home, the last leg included."""
    route, _, _ = _setup(api)
    response = api.patch("/workers/ops-groups/hand",
                         json={"route_completion_type": "return_to_start_location"})
    assert response.status_code == 200, response.text
    # Any route change recomputes the estimate with the group's current settings.
    response = api.patch(f"/orders/routes/{route['route_handle']}",
                         json={"metadata": {"shift": "am"}})
    assert response.status_code == 200, response.text
    closed = response.json()
    (d_ha, s_ha), (d_ab, s_ab), (d_bc, s_bc), (d_ch, s_ch) = (
        leg(HOME, A), leg(A, B), leg(B, C), leg(C, HOME))
    estimate = closed["estimate"]
    assert closed["completion_type"] == "return_to_start_location"
    assert estimate["distance"] == d_ha + d_ab + d_bc + d_ch
    assert estimate["duration"] == s_ha + s_ab + s_bc + s_ch
    assert estimate["polyline"]["coordinates"] == [list(HOME), list(A), list(B), list(C),
                                                   list(HOME)]
    assert estimate["end_location"] == {"type": "Point", "coordinates": list(HOME)}
    # Coming home has no deadline, so start_by and the stops' timings do not change.
    assert estimate["start_by"] == route["estimate"]["start_by"]
    assert [o["estimate"] for o in closed["orders"]] == [o["estimate"] for o in route["orders"]]
