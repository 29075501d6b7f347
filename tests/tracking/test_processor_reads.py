"""What the tracking processor reads of its routes: never the planner's and the API's
columns, which its lock of a group's routes leaves out (repository._NOT_TRACKING). A path of
the processor that used one would read it route by route, a statement each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.tracking.repository import _NOT_TRACKING
from tests.conftest import Tenant

from .api_helpers import TrackClock, make_road
from .simulate import FakeTravel


def test_a_drive_through_both_stops_never_reads_what_tracking_leaves_out(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    road = make_road(api, db, tenant, track_clock)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = api.app.state.db.engine  # the app's, which its processor uses
    event.listen(engine, "before_cursor_execute", seen)
    try:
        road.upload(*road.drive(0, 100, 0, 1000))  # the route starts; first ETAs
        road.upload(*road.drive(110, 200, 1000, 1000))  # arrived at P
        road.upload(*road.drive(210, 300, 1100, 2000))  # left P
        road.upload(*road.drive(310, 400, 2000, 2000))  # arrived at Q
        road.upload(*road.drive(410, 450, 2100, 2300))  # left Q
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert road.order("P")["exited_at"] is not None
    assert road.order("Q")["exited_at"] is not None
    names = [f"route.{column.key}" for column in _NOT_TRACKING]
    assert any("FROM route" in statement for statement in statements)
    read = [statement for statement in statements
            if any(name in statement for name in names)]
    assert not read, read[0]
