"""The demo on Helsinki's streets: `routekeeper demo`'s day planned on a real osrm-routed,
then the board, a route embed and a share page in headless Chromium (the README's
screenshots, docs/screenshots/demo-*.png, come from here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from routekeeper.app import create_app
from routekeeper.core.clock import utcnow
from routekeeper.db.engine import Database
from routekeeper.demo import GROUP, STREETS, WORKERS, seed
from routekeeper.settings import Settings, ViewSettings
from tests.conftest import Tenant
from tests.planning.helpers import run_jobs
from tests.roads.conftest import Engine, road_settings
from tests.roads.test_roads_engine import osrm_route
from tests.views.conftest import (  # noqa: F401 (fixtures)
    CHROMIUM,
    OFFLINE_TILES,
    LiveServer,
    Outside,
    browser,
    open_context,
    outside,
    screenshot,
)
from tests.views.helpers import path_of

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")]


@pytest.fixture(scope="module")
def demo_settings(settings: Settings, helsinki: Engine) -> Settings:
    """Road settings on the Helsinki engine with offline tiles."""
    return road_settings(settings, helsinki.url).model_copy(update={
        "views": ViewSettings(tile_url=OFFLINE_TILES, tile_attribution="Test tiles")})


@pytest.fixture(scope="module")
def demo_server(demo_settings: Settings) -> Iterator[LiveServer]:
    """The road app on a loopback port, for the browser."""
    server = LiveServer(create_app(demo_settings, run_worker=False))
    server.start()
    yield server
    server.stop()


def test_demo_day_is_planned_on_the_streets_and_drawn(
    db: Database, demo_settings: Settings, demo_server: LiveServer, helsinki: Engine,
    browser: Any, outside: Outside,  # noqa: F811
) -> None:
    """The demo's 30 orders are planned for its 3 workers on road times; each route's line
    follows the streets and matches OSRM's /route; the pages credit OpenStreetMap."""
    tenant = Tenant(create_app(demo_settings, run_worker=False), db)
    with db.write() as session:
        day = seed(session, tenant.account_id, now=utcnow())
    assert day is not None
    with db.write() as session:
        assert seed(session, tenant.account_id, now=utcnow()) is None  # once per account
    run_jobs(db, demo_settings)
    api = tenant.client
    (plan,) = api.get("/orders/plans/", params={"ops_group_handle": GROUP}).json()["plans"]
    detail = api.get(f"/orders/plans/{plan['plan_id']}").json()
    assert detail["status"] == "completed" and detail["unplanned_orders"] == []
    assert len(detail["routes"]) == len(WORKERS)
    routes = [api.get(f"/orders/routes/{r['route_handle']}").json() for r in detail["routes"]]
    assert sum(len(r["orders"]) for r in routes) == len(STREETS)
    for route in routes:
        estimate = route["estimate"]
        stops = [tuple(o["destination"]["geometry"]["coordinates"]) for o in route["orders"]]
        line = estimate["polyline"]["coordinates"]
        # Many points per leg: the streets, not one straight segment per stop.
        assert len(line) >= 4 * len(stops)
        expected = osrm_route(helsinki.url, [tuple(estimate["start_location"]["coordinates"]),
                                             *stops])
        assert abs(estimate["distance"] - expected["distance"]) <= 0.005 * expected["distance"]  # type: ignore[operator]
        assert abs(estimate["duration"] - expected["duration"]) <= 0.005 * expected["duration"]  # type: ignore[operator]
        assert estimate["straight_line_legs"] == [] and estimate["unreachable_legs"] == []

    contexts: list[Any] = []
    try:
        board = open_context(browser, outside, width=1280, height=800,
                             credentials=(tenant.account_id, tenant.secret_key))
        contexts.append(board)
        page = board.new_page()
        page.goto(f"{demo_server.url}/board?date={day}&ops_group={GROUP}", wait_until="load")
        expect(page.locator(".rk-route-link")).to_have_count(len(WORKERS))
        expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
        expect(page.locator(".leaflet-marker-pane .rk-pin")).to_have_count(len(STREETS))
        screenshot(page, "demo-board.png")

        embed = open_context(browser, outside, width=1280, height=800)
        contexts.append(embed)
        page = embed.new_page()
        longest = max(routes, key=lambda r: len(r["orders"]))
        page.goto(demo_server.url + path_of(longest["embed_url"]), wait_until="load")
        expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
        drawn = page.evaluate("() => RK.view.line.getLatLngs().length")
        assert drawn >= 4 * len(longest["orders"])
        screenshot(page, "demo-embed.png")

        share = open_context(browser, outside, width=360, height=740, mobile=True)
        contexts.append(share)
        page = share.new_page()
        # The customer's page exists once the route is being driven.
        started = api.post("/orders/track", json={"track_mode": "on_time",
                                                  "route_handle": longest["route_handle"]})
        assert started.status_code == 201, started.text
        order = started.json()["orders"][1]
        page.goto(demo_server.url + path_of(order["share_url"]), wait_until="load")
        expect(page.locator("#rk-destination")).to_contain_text("Helsinki")
        expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
        screenshot(page, "demo-share.png")
    finally:
        for context in contexts:
            context.close()
    assert not outside.urls
