"""Routes, estimates and plans through the API on Helsinki's real roads (a live osrm-routed)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.planning.optimizer import UNREACHABLE_BEFORE_LATE
from routekeeper.settings import Settings
from routekeeper.travel import OsrmModel
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow
from tests.roads.conftest import Engine, road_settings
from tests.roads.places import CENTRAL_STATION, HELSINKI, PARIS, Point
from tests.roads.test_roads_engine import osrm_route
from tests.routes.helpers import create_route, leg, make_group, orders_at


def within(value: float, expected: float, share: float) -> bool:
    """Whether value is within share (e.g. 0.02) of expected."""
    return abs(value - expected) <= share * expected


def coordinates(route: dict[str, Any]) -> list[Point]:
    """The estimate polyline of a route as (lon, lat) tuples."""
    return [(p[0], p[1]) for p in route["estimate"]["polyline"]["coordinates"]]


def test_manual_route_in_helsinki_is_measured_on_the_roads(
    road_api: TestClient, helsinki: Engine
) -> None:
    """A manual route of Helsinki orders has OSRM's distance and a street-following polyline."""
    make_group(road_api, "hki", home=CENTRAL_STATION)
    stops = HELSINKI[:3]
    handles = orders_at(road_api, *stops, group="hki")
    route = create_route(road_api, handles, ops_group_handle="hki")
    estimate = route["estimate"]
    expected = osrm_route(helsinki.url, [CENTRAL_STATION, *stops])
    assert within(estimate["distance"], expected["distance"], 0.005)  # type: ignore[arg-type]
    assert within(estimate["duration"], expected["duration"], 0.005)  # type: ignore[arg-type]
    assert estimate["straight_line_legs"] == [] and estimate["unreachable_legs"] == []
    line = coordinates(route)
    assert len(line) >= 10 * len(stops)
    assert line[0] == CENTRAL_STATION and line[-1] == stops[-1]
    legs = [o["estimate"]["distance"] for o in route["orders"]]
    assert sum(legs) == estimate["distance"] and all(d > 0 for d in legs)
    # Each destination says how far it is from its road: close, so on the network.
    assert all(o["estimate"]["snapped_distance"] < 60 for o in route["orders"])
    assert not any(o["estimate"]["off_road"] for o in route["orders"])


def test_route_in_another_city_gets_a_straight_line_estimate(road_api: TestClient) -> None:
    """Orders far from the dataset's roads are estimated by the straight-line model."""
    make_group(road_api, "paris", home=PARIS[0])
    handles = orders_at(road_api, *PARIS[1:], group="paris")
    route = create_route(road_api, handles, ops_group_handle="paris")
    estimate = route["estimate"]
    expected = [leg(PARIS[0], PARIS[1]), leg(PARIS[1], PARIS[2])]
    assert estimate["distance"] == sum(m for m, _ in expected)
    assert estimate["duration"] == sum(s for _, s in expected)
    assert estimate["straight_line_legs"] == [0, 1] and estimate["unreachable_legs"] == []
    assert coordinates(route) == list(PARIS)
    # Flagged on the orders: their destinations are far from any road of the dataset.
    for order in route["orders"]:
        assert order["estimate"]["off_road"] is True
        assert order["estimate"]["snapped_distance"] > 1_000_000


def test_plan_in_helsinki_matches_osrm_routes(
    road_api: TestClient, db: Database, settings: Settings, helsinki: Engine
) -> None:
    """A plan on road times: each route's estimate is OSRM's /route through its stops."""
    day = tomorrow()
    home = {"geometry": {"type": "Point", "coordinates": list(CENTRAL_STATION)}}
    add_worker(road_api, home=home)
    add_worker(road_api, home=home)
    orders = [day_order(day, lon, lat) for lon, lat in HELSINKI]
    plan_id = post_plan(road_api, orders)
    run_jobs(db, road_settings(settings, helsinki.url))
    plan = road_api.get(f"/orders/plans/{plan_id}").json()
    assert plan["status"] == "completed" and plan["unplanned_orders"] == []
    for summary in plan["routes"]:
        route = road_api.get(f"/orders/routes/{summary['route_handle']}").json()
        stops = [tuple(o["destination"]["geometry"]["coordinates"]) for o in route["orders"]]
        start = tuple(route["estimate"]["start_location"]["coordinates"])
        expected = osrm_route(helsinki.url, [start, *stops])
        assert within(route["estimate"]["distance"], expected["distance"], 0.005)  # type: ignore[arg-type]
        assert within(route["estimate"]["duration"], expected["duration"], 0.005)  # type: ignore[arg-type]
        assert len(coordinates(route)) > 5 * len(stops)


def _split(engine: Engine) -> tuple[Point, list[Point], list[Point]]:
    """A start, stops it can drive to and back from, and stops it cannot reach at all."""
    points = [CENTRAL_STATION, *HELSINKI, (24.9450, 60.1690), (24.9400, 60.1700)]
    raw = OsrmModel(engine.url, max_table_size=1000).table(points, points)
    for s, start in enumerate(points):
        ok = [p for k, p in enumerate(points) if k != s
              and raw.duration_s[s, k] == raw.duration_s[s, k]
              and raw.duration_s[k, s] == raw.duration_s[k, s]]
        cut = [p for k, p in enumerate(points) if k != s
               and raw.duration_s[s, k] != raw.duration_s[s, k]
               and raw.duration_s[k, s] != raw.duration_s[k, s]
               and raw.origin_snap_m[k] < 500]
        if ok and cut:
            return start, ok, cut
    raise AssertionError("no start with both reachable and unreachable stops")


def test_an_order_no_worker_can_reach_is_unplanned_with_the_reason(
    fragmented_api: TestClient, db: Database, settings: Settings, fragmented: Engine
) -> None:
    """On a fragmented road graph an unreachable order is unplanned with the contract reason."""
    start, reachable, unreachable = _split(fragmented)
    day = tomorrow()
    add_worker(fragmented_api, home={"geometry": {"type": "Point", "coordinates": list(start)}})
    good = day_order(day, *reachable[0])
    bad = day_order(day, *unreachable[0])
    plan_id = post_plan(fragmented_api, [good, bad])
    run_jobs(db, road_settings(settings, fragmented.url))
    plan = fragmented_api.get(f"/orders/plans/{plan_id}").json()
    assert plan["status"] == "completed"
    assert [o["order_handle"] for o in plan["unplanned_orders"]] == [bad["order_handle"]]
    assert plan["unplanned_orders"][0]["planning_failure_reason"] == UNREACHABLE_BEFORE_LATE
    (route,) = plan["routes"]
    assert [o["order_handle"] for o in route["orders"]] == [good["order_handle"]]


def test_an_estimate_across_an_unreachable_leg_says_so(
    fragmented_api: TestClient, fragmented: Engine
) -> None:
    """A manual route over a leg no road joins gives no totals and names the leg."""
    start, reachable, unreachable = _split(fragmented)
    make_group(fragmented_api, "cut", home=start)
    handles = orders_at(fragmented_api, reachable[0], unreachable[0], group="cut")
    route = create_route(fragmented_api, handles, ops_group_handle="cut")
    estimate = route["estimate"]
    assert estimate["distance"] is None and estimate["duration"] is None
    assert 1 in estimate["unreachable_legs"]
    first, second = route["orders"]
    assert first["estimate"]["distance"] is not None and first["estimate"]["arrive_at"]
    assert second["estimate"]["distance"] is None and second["estimate"]["arrive_at"] is None


def test_tracking_etas_stop_before_a_stop_no_road_leads_to(fragmented: Engine) -> None:
    """Live ETAs on the road model cover the stops up to the first unreachable one."""
    from datetime import UTC, datetime

    from routekeeper.settings import RoutingSettings
    from routekeeper.tracking.engine.eta import Stop, estimate_remaining
    from routekeeper.travel import travel_model_from_settings

    start, reachable, unreachable = _split(fragmented)
    model = travel_model_from_settings(RoutingSettings(osrm_url=fragmented.url))
    stops = [Stop(order_key=f"s{i}", location=p, scheduled_after=None, scheduled_at=None,
                  service_s=60) for i, p in enumerate([reachable[0], unreachable[0],
                                                       reachable[0]])]
    etas = estimate_remaining(start, datetime.now(UTC), stops, model)
    assert [e.order_key for e in etas] == ["s0"]
    assert etas[0].remaining_duration_s < 3600


def test_health_names_the_travel_model(road_api: TestClient, api: TestClient) -> None:
    """/health says whether travel runs on the road network or the straight line."""
    assert road_api.get("/health").json()["travel"] == {"model": "road", "source": "osrm_url"}
    assert api.get("/health").json()["travel"] == {"model": "straight_line",
                                                   "source": "straight_line"}


def test_a_dead_osrm_is_a_503_not_a_500(
    settings: Settings, db: Database
) -> None:
    """With OSRM down, creating a route answers 503 with the travel failure message."""
    from routekeeper.app import create_app
    from routekeeper.travel.supervisor import free_port
    from tests.conftest import Tenant

    dead = create_app(road_settings(settings, f"http://127.0.0.1:{free_port()}",
                                    osrm_timeout_s=2.0), run_worker=False)
    client = Tenant(dead, db).client
    make_group(client, "down", home=CENTRAL_STATION)
    (handle,) = orders_at(client, HELSINKI[0], group="down")
    answer = client.post("/orders/routes/", json={"orders": [{"order_handle": handle}],
                                                  "ops_group_handle": "down"})
    assert answer.status_code == 503
    assert answer.json()["message"] == "Travel time calculation failed"
    order = client.get(f"/orders/{handle}").json()
    assert order["status"] == "unplanned" and order["route_handle"] is None
