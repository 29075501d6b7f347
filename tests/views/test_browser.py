"""The three pages in a real headless Chromium against the app served on a loopback port:
they draw their routes and stops without map tiles, follow positions posted through the API
live, keep the share page to its own order, refuse bad embed tokens, and load in under 1 s.

Screenshots of each page are saved under docs/screenshots/ (the share page at phone width).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant

from .conftest import LiveServer, Outside, open_context, screenshot
from .helpers import DEPOT, STOP_ADDRESSES, Shift, offset, path_of, plan_day, start_shift
from .test_share_scope import secrets_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_BUDGET_MS = 1000.0


class Tab:
    """A page of a browser context, with the script errors it raised."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, url: str) -> Any:
        """Navigate and wait for the load event; the response of the document."""
        return self.page.goto(url, wait_until="load")

    def load_ms(self) -> float:
        """How long the last navigation took to its load event."""
        entry = self.page.evaluate(
            "() => performance.getEntriesByType('navigation')[0].toJSON()")
        return float(entry["loadEventEnd"])


@pytest.fixture
def tabs(browser: Any) -> Iterator[list[Any]]:
    """Browser contexts opened by one test, closed after it."""
    contexts: list[Any] = []
    yield contexts
    for context in contexts:
        context.close()


def new_tab(browser: Any, tabs: list[Any], outside: Outside, **options: Any) -> Tab:
    """A page in a fresh context of the given viewport (see ``open_context``)."""
    context = open_context(browser, outside, **options)
    tabs.append(context)
    return Tab(context)


def assert_loads_fast(tab: Tab, browser: Any, tabs: list[Any], outside: Outside, url: str,
                      **options: Any) -> None:
    """The page reached its load event within the budget, in this tab or, when the shared
    machine was busy, in one of two more first visits from fresh contexts."""
    timings = [tab.load_ms()]
    while timings[-1] >= LOAD_BUDGET_MS and len(timings) < 3:
        again = new_tab(browser, tabs, outside, **options)
        again.open(url)
        timings.append(again.load_ms())
        again.context.close()
    assert min(timings) < LOAD_BUDGET_MS, timings


def at(point: tuple[float, float]) -> str:
    """A (lon, lat) point as the map element's ``data-worker`` says it (lat,lon)."""
    return f"{point[1]:.6f},{point[0]:.6f}"


def worker_box(tab: Tab) -> dict[str, float]:
    """Where the worker's marker is on the screen."""
    box: dict[str, float] | None = tab.page.locator(".rk-worker-icon").bounding_box()
    assert box is not None
    return box


def test_embed_draws_the_route_and_follows_the_worker_live(
    tenant: Tenant, db: Database, live_server: LiveServer, browser: Any, outside: Outside,
    tabs: list[Any],
) -> None:
    """The embed link the API handed out opens in the browser without credentials and draws
    the planned line, three numbered stops with their ETAs, and the worker with a trail; the
    worker moves and a completed stop turns green as positions and completions arrive."""
    shift = start_shift(tenant, db)
    first = offset(DEPOT, 300.0, 0.0)
    shift.post_position(*first)
    tab = new_tab(browser, tabs, outside, width=1280, height=800)
    url = live_server.url + path_of(shift.embed_url)
    assert tab.open(url).status == 200
    assert_loads_fast(tab, browser, tabs, outside, url, width=1280, height=800)
    page = tab.page
    pins = page.locator(".leaflet-marker-pane .rk-pin")
    expect(pins).to_have_count(3)
    assert pins.all_inner_texts() == ["1", "2", "3"]
    assert all("rk-s-ongoing" in (c or "") for c in
               [pins.nth(i).get_attribute("class") for i in range(3)])
    assert page.evaluate("() => RK.view.line.getLatLngs().length") >= 3
    expect(page.locator("path.leaflet-interactive")).to_have_count(2)
    for handle in shift.handles:
        expect(page.locator(f'.rk-stop[data-order="{handle}"] .rk-time')).to_contain_text("ETA")
    expect(page.locator("#map")).to_have_attribute("data-worker", at(first))
    expect(page.locator("#rk-live")).to_have_attribute("data-state", "live")
    expect(page.locator(".rk-offline-note")).to_be_visible()
    before = worker_box(tab)

    second = offset(DEPOT, 900.0, 0.0)
    shift.catch_up()
    shift.post_position(*second)
    expect(page.locator("#map")).to_have_attribute("data-worker", at(second))
    assert worker_box(tab)["x"] > before["x"] + 20
    assert page.evaluate("() => RK.view.trail.getLatLngs().length") == 2
    shift.complete(0)
    expect(pins.nth(0)).to_have_class(re.compile(r"\brk-s-completed\b"))
    expect(page.locator("#rk-stops-done")).to_have_text("1 / 3 done")
    screenshot(page, "embed.png")
    assert not tab.errors
    assert not outside.urls


def test_share_page_shows_its_order_only_and_the_worker_only_on_the_way(
    tenant: Tenant, db: Database, live_server: LiveServer, browser: Any, outside: Outside,
    tabs: list[Any],
) -> None:
    """At phone width, the second stop's page says it is coming up without showing the
    worker; once the first stop is done the worker appears and moves live; when this order
    is completed the worker disappears. Nothing of other orders is in the DOM or the data."""
    shift = start_shift(tenant, db)
    shift.post_position(*offset(DEPOT, 300.0, 0.0))
    tab = new_tab(browser, tabs, outside, width=360, height=740, mobile=True)
    url = f"{live_server.url}/t/{shift.tracking_id(1)}"
    assert tab.open(url).status == 200
    assert_loads_fast(tab, browser, tabs, outside, url, width=360, height=740, mobile=True)
    page = tab.page
    expect(page.locator("#rk-headline")).to_have_text("Coming up")
    expect(page.locator("#rk-destination")).to_have_text(STOP_ADDRESSES[1])
    expect(page.locator("#rk-driver")).to_have_text("Ada")
    expect(page.locator(".rk-destination-icon")).to_have_count(1)
    expect(page.locator("#rk-live")).to_have_attribute("data-state", "live")
    expect(page.locator(".rk-worker-icon")).to_have_count(0)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360

    shift.complete(0)
    here = offset(DEPOT, 2000.0, 100.0)
    shift.post_position(*here)
    expect(page.locator("#rk-headline")).to_have_text("On the way")
    expect(page.locator(".rk-worker-icon")).to_have_count(1)
    expect(page.locator("#map")).to_have_attribute("data-worker", at(here))
    expect(page.locator("#rk-eta")).to_be_visible()
    screenshot(page, "share.png")
    forbidden = secrets_of(shift, tenant, 1)
    leaked = [value for value in forbidden if value in page.content()]
    assert not leaked
    data = page.evaluate("async (u) => (await fetch(u)).text()", f"{url}/state")
    assert json.loads(data)["map"]["worker"] is not None
    assert not [value for value in forbidden if value in data]

    closer = offset(DEPOT, 2400.0, 180.0)
    shift.post_position(*closer)
    expect(page.locator("#map")).to_have_attribute("data-worker", at(closer))
    shift.complete(1)
    expect(page.locator("#rk-headline")).to_have_text("Completed")
    expect(page.locator(".rk-worker-icon")).to_have_count(0)
    shift.post_position(*offset(DEPOT, 2600.0, 200.0))
    page.wait_for_timeout(1500)
    expect(page.locator(".rk-worker-icon")).to_have_count(0)
    assert not tab.errors
    assert not outside.urls


def test_board_draws_every_route_in_its_colour_and_opens_the_embed(
    tenant: Tenant, db: Database, settings: Settings, live_server: LiveServer, browser: Any,
    outside: Outside, tabs: list[Any],
) -> None:
    """With account credentials the board draws each route of the day in its own colour,
    lists the unplanned order with its reason, and a click on a route opens its embed."""
    planned = plan_day(tenant.client, db, settings)
    viewport: dict[str, Any] = {"width": 1280, "height": 800,
                                "credentials": (tenant.account_id, tenant.secret_key)}
    tab = new_tab(browser, tabs, outside, **viewport)
    url = f"{live_server.url}/board?date={planned.day}&ops_group=default"
    assert tab.open(url).status == 200
    assert_loads_fast(tab, browser, tabs, outside, url, **viewport)
    page = tab.page
    links = page.locator(".rk-route-link")
    expect(links).to_have_count(2)
    strokes = page.eval_on_selector_all("path.leaflet-interactive",
                                        "els => els.map(e => e.getAttribute('stroke'))")
    assert len(strokes) == 2 and len(set(strokes)) == 2
    expect(page.locator(".leaflet-marker-pane .rk-pin")).to_have_count(6)
    expect(page.locator(".rk-unplanned-icon")).to_have_count(1)
    expect(page.locator(f'.rk-unplanned [data-order="{planned.unplanned[0]}"]')).to_contain_text(
        "No Worker supports the required product type for this order.")
    screenshot(page, "board.png")
    assert not tab.errors

    first = planned.route_handles[0]
    page.locator(f'path.leaflet-interactive[stroke="{strokes[0]}"]').dispatch_event("click")
    page.wait_for_url(f"**/embed/routes/{first}?token=*")
    expect(page.locator(".leaflet-marker-pane .rk-pin")).not_to_have_count(0)
    page.go_back()
    links.nth(1).click()
    page.wait_for_url(f"**/embed/routes/{planned.route_handles[1]}?token=*")
    expect(page.locator(".rk-stop")).not_to_have_count(0)
    assert not tab.errors
    assert not outside.urls


def test_a_tampered_embed_link_is_refused_in_the_browser(
    tenant: Tenant, db: Database, live_server: LiveServer, browser: Any, outside: Outside,
    tabs: list[Any],
) -> None:
    """A link whose token was changed opens a 403 page with no route on it."""
    shift: Shift = start_shift(tenant, db)
    tab = new_tab(browser, tabs, outside, width=800, height=600)
    url = live_server.url + path_of(shift.embed_url)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    response = tab.open(tampered)
    assert response.status == 403
    expect(tab.page.locator("h1")).to_have_text("Link expired or invalid")
    assert shift.handles[0] not in tab.page.content()


def test_order_embed_shows_the_order_its_timeline_and_the_worker_on_the_way(
    tenant: Tenant, db: Database, live_server: LiveServer, browser: Any, outside: Outside,
    tabs: list[Any],
) -> None:
    """The order embed signed by ``POST /oauth/embed-token`` opens without credentials,
    shows the order and its timeline, and follows the worker live while on the way to it;
    when the order is completed the worker disappears and the timeline says so."""
    shift = start_shift(tenant, db)
    handle = shift.handles[0]
    response = shift.api.post("/oauth/embed-token", json={
        "embed_url": f"http://testserver/embed/orders/{handle}?fulfillment-attempt=0",
        "grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    tab = new_tab(browser, tabs, outside, width=1280, height=800)
    url = f"{live_server.url}{path_of(response.json()['secure_embed_url'])}"
    assert tab.open(url).status == 200
    page = tab.page
    expect(page.locator("#rk-order")).to_have_text(f"Order {handle}")
    expect(page.locator("#rk-destination")).to_have_text(STOP_ADDRESSES[0])
    expect(page.locator(".rk-destination-icon")).to_have_count(1)
    expect(page.locator("#rk-live")).to_have_attribute("data-state", "live")
    expect(page.locator("#rk-timeline li[data-type='order_started']")).to_have_count(1)
    here = offset(DEPOT, 400.0, 20.0)
    shift.post_position(*here)
    expect(page.locator(".rk-worker-icon")).to_have_count(1)
    expect(page.locator("#map")).to_have_attribute("data-worker", at(here))
    screenshot(page, "order-embed.png")
    shift.complete(0)
    expect(page.locator("#rk-status")).to_have_text("Completed")
    expect(page.locator(".rk-worker-icon")).to_have_count(0)
    expect(page.locator("#rk-timeline li[data-type='order_completed']")).to_have_count(1)
    assert not tab.errors
    assert not outside.urls
