"""The route aggregate's invariants under random sequences of changes through the HTTP API.

Route edits (create, add, remove, resequence, optimise, reassign, complete, start), order
changes (complete, cancel, disable, enable, reschedule, reassign) and re-plans run in a
random order; after every step, whatever it answered (never a 5xx):

- an order is on at most one route, an open route's orders are not ``unplanned`` and an
  ``unplanned`` order is on no route;
- a route's version never goes back, and every change the API accepted moved it on;
- an open route's sequence is 0..n-1, and its estimate follows that sequence: the polyline
  visits the open orders' destinations in their order, their ``arrive_at`` never goes
  back, and a route with nothing left to visit has no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.core.timefmt import parse_ts
from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow

FINISHED = ("completed", "cancelled")
KINDS = ("new_route", "add", "remove", "resequence", "optimise", "reassign_route",
         "complete_route", "track", "complete", "cancel", "disable", "enable", "reschedule",
         "reassign", "replan")
POINTS = [(13.41, 52.50), (13.43, 52.51), (13.45, 52.49), (13.38, 52.52), (13.42, 52.53),
          (13.46, 52.51)]

Step = tuple[str, int, int]
steps = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 9), st.integers(0, 9)),
                 min_size=1, max_size=12)


@dataclass
class World:
    """One account's day: the API client, its plan, workers, and the versions seen so far."""

    api: TestClient
    db: Database
    settings: Settings
    account_id: str
    plan_id: str
    workers: list[str]
    versions: dict[str, int] = field(default_factory=dict)

    def rows(self) -> tuple[list[Route], list[Order]]:
        """The account's routes and orders as stored now."""
        with self.db.read() as session:
            routes = list(session.scalars(select(Route).where(
                Route.account_id == self.account_id).order_by(Route.route_handle)))
            orders = list(session.scalars(select(Order).where(
                Order.account_id == self.account_id).order_by(Order.order_handle,
                                                              Order.fulfillment_attempt)))
            session.expunge_all()
        return routes, orders


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)] if items else None


def _route_step(world: World, kind: str, route: Route | None, order: Order | None,
                worker: str) -> tuple[Any, str | None]:
    """A route edit; the response and the route it was meant to change."""
    api = world.api
    if route is None:
        return None, None
    base = f"/orders/routes/{route.route_handle}"
    ref = [{"order_handle": order.order_handle}] if order is not None else []
    if kind == "add":
        return api.post(f"{base}/add", json={"orders": ref, "resequence": True}), \
            route.route_handle
    if kind == "remove":
        return api.post(f"{base}/remove", json={"orders": ref}), route.route_handle
    if kind == "resequence":
        current = api.get(base).json()
        open_ = [{"order_handle": o["order_handle"]} for o in current["orders"]
                 if o["status"] not in FINISHED]
        return api.post(f"{base}/resequence", json={"orders": open_[::-1]}), \
            route.route_handle
    if kind == "optimise":
        return api.post(f"{base}/optimise"), route.route_handle
    if kind == "reassign_route":
        return api.post(f"{base}/reassign", json={"worker_handle": worker}), route.route_handle
    if kind == "complete_route":
        return api.post(f"{base}/complete"), route.route_handle
    return api.post("/orders/track", json={"route_handle": route.route_handle,
                                           "track_mode": "on_time"}), route.route_handle


def _order_step(world: World, kind: str, order: Order | None,
                worker: str) -> tuple[Any, str | None]:
    """An order change; the response and the route the order was on."""
    if order is None:
        return None, None
    path = f"/orders/{order.order_handle}"
    if kind == "reschedule":
        later = (order.scheduled_at or parse_ts("2030-01-01T00:00:00Z")) + timedelta(days=1)
        response = world.api.post(f"{path}/reschedule", json={
            "scheduled_at": later.isoformat().replace("+00:00", "Z")})
    elif kind == "reassign":
        response = world.api.post(f"{path}/reassign", json={"worker_handle": worker})
    else:
        response = world.api.post(f"{path}/{kind}")
    return response, order.route_handle


def _step(world: World, step: Step) -> tuple[Any, str | None]:
    """Run one step against the current state; the response (None: nothing to act on) and
    the route whose version it must move on when it succeeds."""
    kind, i, j = step
    routes, orders = world.rows()
    open_routes = [r for r in routes if r.status != "completed"]
    latest = {o.order_handle: o for o in orders}  # the newest attempt of each order
    unplanned = [o for o in latest.values() if o.status == "unplanned"]
    worker = _pick(world.workers, j)
    if kind == "replan":
        response = world.api.post(f"/orders/plans/{world.plan_id}/trigger",
                                  json={"plan_mode": "scheduled", "replan": "allow_moves"})
        run_jobs(world.db, world.settings)
        return response, None
    if kind == "new_route":
        chosen = unplanned[i % max(len(unplanned), 1):][:2]
        if not chosen:
            return None, None
        return world.api.post("/orders/routes/", json={
            "orders": [{"order_handle": o.order_handle} for o in chosen],
            "worker_handle": worker}), None
    route = _pick(open_routes, i)
    if kind in ("add", "remove", "resequence", "optimise", "reassign_route", "complete_route",
                "track"):
        on_route = [o for o in latest.values() if route and o.route_handle == route.route_handle]
        order = _pick(unplanned if kind == "add" else on_route, j)
        return _route_step(world, kind, route, order, worker)
    return _order_step(world, kind, _pick(list(latest.values()), i), worker)


def _check(world: World, changed: str | None, accepted: bool) -> None:
    """Every invariant of the module docstring, on the stored rows."""
    routes, orders = world.rows()
    by_handle = {r.route_handle: r for r in routes}
    for route in routes:
        seen = world.versions.get(route.route_handle, 0)
        assert route.version >= seen, f"{route.route_handle} went back to {route.version}"
        if accepted and route.route_handle == changed:
            assert route.version > seen, f"{route.route_handle} changed at {route.version}"
        world.versions[route.route_handle] = route.version
    for order in orders:
        if order.route_handle is None:
            continue
        route = by_handle.get(order.route_handle)
        assert route is not None, f"{order.order_handle} is on a missing route"
        if route.status != "completed":
            assert order.status != "unplanned", f"{order.order_handle} unplanned on a route"
    assert all(o.route_handle is None for o in orders if o.status == "unplanned")
    for route in routes:
        if route.status != "completed":
            _check_route(route, [o for o in orders if o.route_handle == route.route_handle])


def _check_route(route: Route, on_route: list[Order]) -> None:
    """An open route's sequence and the estimate that follows it."""
    on_route.sort(key=lambda o: o.route_sequence if o.route_sequence is not None else -1)
    assert [o.route_sequence for o in on_route] == list(range(len(on_route))), \
        f"{route.route_handle}: sequence {[o.route_sequence for o in on_route]}"
    live = [o for o in on_route if o.status not in (*FINISHED, "disabled")]
    if not live:
        assert route.estimate is None, f"{route.route_handle}: an estimate with no stop"
        return
    assert route.estimate is not None, f"{route.route_handle}: no estimate"
    line = [tuple(p) for p in route.estimate["polyline"]["coordinates"]]
    stops = [(o.destination_lon, o.destination_lat) for o in live]
    assert line[-len(stops):] == stops, f"{route.route_handle}: {line} is not {stops}"
    arrivals = [parse_ts(o.estimate["arrive_at"]) for o in live
                if o.estimate and o.estimate.get("arrive_at")]
    assert len(arrivals) == len(live), f"{route.route_handle}: an open order has no ETA"
    assert arrivals == sorted(arrivals), f"{route.route_handle}: ETAs out of sequence"


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(sequence=steps)
def test_random_changes_keep_the_route_invariants(
    app: Any, db: Database, settings: Settings, sequence: list[Step]
) -> None:
    """Any sequence of route edits, order changes and re-plans keeps every invariant."""
    tenant = Tenant(app, db)
    api = tenant.client
    workers = [add_worker(api), add_worker(api)]
    day = tomorrow()
    plan_id = post_plan(api, [day_order(day, *p) for p in POINTS])
    run_jobs(db, settings)
    world = World(api, db, settings, tenant.account_id, plan_id, workers)
    _check(world, None, False)
    for step in sequence:
        response, changed = _step(world, step)
        if response is None:
            continue
        assert response.status_code < 500, f"{step}: {response.status_code} {response.text}"
        _check(world, changed, response.status_code < 300 and step[0] != "reassign")
