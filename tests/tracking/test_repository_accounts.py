"""The tracking repository's statements that take (account, device) or (account, route) pairs
keep accounts apart: two tenants with a device, a worker and a route of the same names each
find only their own rows, in one statement for both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from routekeeper.db.engine import Database
from routekeeper.models.route import Route
from routekeeper.tracking import repository
from tests.conftest import Tenant

from .api_helpers import TrackClock, make_road


def test_pairs_of_two_accounts_with_the_same_names_find_their_own_rows(
    db: Database, tenant: Tenant, other_tenant: Tenant, track_clock: TrackClock
) -> None:
    ours = make_road(tenant.client, db, tenant, track_clock, prefix="ours")
    theirs = make_road(other_tenant.client, db, other_tenant, track_clock, prefix="theirs")
    devices = {(tenant.account_id, "phone"): "driver",
               (other_tenant.account_id, "phone"): "driver"}
    with db.read() as session:
        found = {key: device.account_id
                 for key, device in repository.devices_by_ids(session, devices).items()}
        handles = repository.tracking_route_handles(session, devices)
    assert found == {
        (tenant.account_id, "phone"): tenant.account_id,
        (other_tenant.account_id, "phone"): other_tenant.account_id}
    assert handles == {(tenant.account_id, "phone"): [ours.route_handle],
                       (other_tenant.account_id, "phone"): [theirs.route_handle]}
    # A device or worker no account has finds nothing.
    with db.read() as session:
        assert repository.devices_by_ids(session, [(tenant.account_id, "nobody")]) == {}
        assert repository.tracking_route_handles(
            session, {(tenant.account_id, "nobody"): "nobody"}) == {
            (tenant.account_id, "nobody"): []}

    with db.write() as session:
        locked = repository.tracking_routes(session, devices)
        assert {key: [route.route_handle for route in routes]
                for key, routes in locked.items()} == handles
        routes = [route for routes in locked.values() for route in routes]
        repository.load_track_states(session, routes)
        stored: dict[str, Any] = dict(session.execute(
            select(Route.route_handle, Route.track_state)
            .where(Route.route_handle.in_([ours.route_handle, theirs.route_handle]))).all())
        assert {route.route_handle: route.track_state for route in routes} == stored
