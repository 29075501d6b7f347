"""The plans board over HTTP: account credentials, the day's plans of one ops group, their
routes with signed embed links, and the unplanned orders with their reasons."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant

from .helpers import PlannedDay, plan_day


@pytest.fixture
def planned(api: TestClient, db: Database, settings: Settings) -> PlannedDay:
    """Tomorrow planned for two workers, one order left unplanned."""
    return plan_day(api, db, settings)


def test_board_needs_account_credentials(anon: TestClient) -> None:
    """Without credentials the board is a Basic challenge; wrong ones too."""
    response = anon.get("/board")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert anon.get("/board", auth=("nobody", "wrong")).status_code == 401


@pytest.mark.slow
def test_board_shows_the_plan_routes_and_unplanned_orders(
    planned: PlannedDay, api: TestClient, anon: TestClient, other_tenant: Tenant,
) -> None:
    """The day's plan with its summary, each route with a link that opens its embed without
    credentials, and the unplanned order with its failure reason; other accounts see none."""
    assert len(planned.route_handles) == 2 and len(planned.unplanned) == 1
    response = api.get("/board", params={"date": planned.day, "ops_group": "default"})
    assert response.status_code == 200, response.text
    page = response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert f'data-plan="{planned.plan_id}"' in page
    assert "No Worker supports the required product type for this order." in page
    assert planned.unplanned[0] in page
    links = re.findall(r'href="(/embed/routes/[^"]+)"', page)
    assert len(links) == 2
    for handle, link in zip(planned.route_handles, links, strict=True):
        assert link.startswith(f"/embed/routes/{handle}?token=")
        opened = anon.get(link.replace("&amp;", "&"))
        assert opened.status_code == 200 and handle in opened.text
    assert "Grace Hopper" in page and "Katherine Johnson" in page
    other = other_tenant.client.get("/board", params={"date": planned.day})
    assert other.status_code == 200
    assert planned.plan_id not in other.text and "No plan for default" in other.text


def test_board_defaults_to_today_and_says_when_the_date_is_bad(api: TestClient) -> None:
    """A malformed date falls back to today with a notice; an unknown group to default."""
    response = api.get("/board", params={"date": "2024-13-45", "ops_group": "nope"})
    assert response.status_code == 200
    assert "Not a date: showing today." in response.text
    assert '<option value="default" selected>' in response.text
