"""Finishing an order or a route while its fixes still wait for the processor: the waiting
fixes are processed first, in the same transaction, so a stop the worker reached gets its
arrival (at its true time) before it is closed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.position_inbox import PositionInbox, waiting_fixes
from tests.conftest import Tenant
from tests.processing import drain

from .api_helpers import Road, TrackClock, bearer, location, make_road, outbox
from .simulate import FakeTravel


@pytest.fixture
def road(api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock,
         travel: FakeTravel) -> Road:
    drain(api)
    return make_road(api, db, tenant, track_clock)


def _store_only(road: Road, fixes: list[Any]) -> None:
    """Upload without processing: the fixes wait in the inbox, as within the lag."""
    road.clock.now = fixes[-1].recorded_at + timedelta(seconds=2)
    response = road.device.post("/devices/phone/locations", headers=bearer(road.key),
                                json={"locations": [location(f) for f in fixes]})
    assert response.status_code == 200, response.text


def _waiting(road: Road) -> int:
    with road.db.read() as session:
        return int(session.scalar(select(waiting_fixes()).where(
            PositionInbox.account_id == road.account_id)) or 0)


def _values(road: Road, name: str) -> list[str]:
    return [event["data"]["value"] for event in outbox(road.db, road.account_id,
                                                       order_handle=road.handles[name])]


def _at_p(road: Road) -> list[Any]:
    """Drive to P (100 s) and stand there for a minute: the dwell of an arrival."""
    return road.drive(0, 100, 0, 1000) + road.drive(110, 170, 1000, 1000)


@pytest.mark.parametrize("action", ["complete", "cancel"])
def test_finishing_an_order_processes_its_waiting_arrival_first(road: Road, action: str
                                                                ) -> None:
    fixes = _at_p(road)
    _store_only(road, fixes)
    assert _waiting(road) == len(fixes)

    response = road.api.post(f"/orders/{road.handles['P']}/{action}")
    assert response.status_code == 200, response.text
    p = road.order("P")
    assert p["arrived_at"] is not None and p["visited_destination"] is True
    # The arrival's true time: the first fix inside P's geofence, not the time of the click.
    assert p["arrived_at"] < p[f"{action}d_at" if action == "complete" else "cancelled_at"]
    assert _waiting(road) == 0 and drain(road.api) == 0
    values = _values(road, "P")
    finished = "completed" if action == "complete" else "cancelled"
    assert values.count("arrived") == 1 and values.count(finished) == 1
    assert values.index("arrived") < values.index(finished)


def test_completing_a_route_processes_its_waiting_fixes_first(road: Road) -> None:
    fixes = _at_p(road)
    _store_only(road, fixes)
    response = road.api.post(f"/orders/routes/{road.route_handle}/complete")
    assert response.status_code == 200, response.text
    p = road.order("P")
    assert p["arrived_at"] is not None and p["status"] == "cancelled"
    assert _waiting(road) == 0 and drain(road.api) == 0
    assert _values(road, "P").count("arrived") == 1


def test_a_second_finish_finds_nothing_left_to_process(road: Road) -> None:
    """Completing P takes the waiting fixes once; completing Q later finds none, and the
    arrival at P is not written again."""
    _store_only(road, _at_p(road))
    assert road.api.post(f"/orders/{road.handles['P']}/complete").status_code == 200
    assert road.api.post(f"/orders/{road.handles['Q']}/complete").status_code == 200
    assert _values(road, "P").count("arrived") == 1
    assert road.order("Q")["arrived_at"] is None
