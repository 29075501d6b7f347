"""Actuals built from stored positions, and what completing an order or a route fills in.

The pipeline state keeps running totals, not every fix; polylines are read back from the
``position`` table: an order's when its visit ends (exit or completion), a route's by the
periodic job and when the route completes.

Hooks for the orders and routes domains (see docs/tracking.md): ``on_order_finished`` is called
by ``orders.service.complete_order`` / ``cancel_order``, ``on_route_completed`` by
``routes.operations.complete_route``, in the transaction of the change. The periodic job
(``tracking.check_offline``) and the next upload remain the safety net: they fill only what the
hooks have not (an order the hook closed in the route state is not filled again, a finalized
route is not finalized again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.settings import TrackingSettings
from routekeeper.tracking import clock, repository
from routekeeper.tracking.engine.actuals import (
    accumulate,
    deviation_from_destination_m,
    polyline_points,
)
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence, Presence, inside_confidence
from routekeeper.tracking.engine.outages import outage_summary
from routekeeper.tracking.engine.pipeline import RouteTrackState, close_order
from routekeeper.tracking.routeorders import RouteOrders
from routekeeper.tracking.routestate import StoredState, finished_at, load, store, sync_plan

POLYLINE_SPACING_S = 1.0
"""Polylines keep at most one position per second."""


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoJSON Point."""
    return {"type": "Point", "coordinates": [lon, lat]}


def _line(fixes: list[Fix]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": polyline_points(fixes)}


def route_devices(route: Route, stored: StoredState) -> set[str]:
    """The devices whose positions belong to the route."""
    devices = set(stored.devices)
    if route.device_id:
        devices.add(route.device_id)
    return devices


def leg_start(route: Route, state: RouteTrackState, order_key: str) -> datetime | None:
    """When the leg that reached an order began: the previous exit before it, or the start."""
    try:
        track = state.order(order_key)
    except KeyError:
        return route.started_at
    reference = track.visit.arrived_at or track.closed_at
    exits = [
        t.visit.exited_at for t in state.orders
        if t.key != order_key and t.visit.exited_at is not None
        and (reference is None or t.visit.exited_at <= reference)
    ]
    return max(exits, default=state.started_at)


def fill_order_actuals(session: Session, route: Route, stored: StoredState, order: Order, *,
                       until: datetime) -> None:
    """An order's polyline, start/end location, tracking rate, outages (and distance if
    unknown)."""
    since = leg_start(route, stored.pipeline, order.id)
    fixes = repository.positions_between(session, route.account_id, route_devices(route, stored),
                                         since=since, until=until)
    if since is not None:
        order.outage_summary = outage_summary(fixes, since_at=since, until_at=until)
    if not fixes:
        return
    order.polyline = _line(_thinned(fixes, None))
    order.start_location = point(fixes[0].lon, fixes[0].lat)
    order.end_location = point(fixes[-1].lon, fixes[-1].lat)
    actuals = accumulate(fixes)
    order.tracking_rate = actuals.tracking_rate(since_at=since, until_at=until)
    if order.distance is None:
        order.distance = round(actuals.distance_m)


def fill_completion(session: Session, route: Route | None, stored: StoredState | None,
                    order: Order, settings: TrackingSettings) -> None:
    """Where the worker was when the order finished: deviation and ``*_at_destination``.

    Judged from the newest position at or before the finishing time; one older than
    ``offline_after_s`` says nothing about the worker's whereabouts, and leaves them unknown.
    """
    at = finished_at(order) or clock.now()
    track = None
    if stored is not None:
        try:
            track = stored.pipeline.order(order.id)
        except KeyError:
            track = None
    arrived = (track is not None and track.visit.has_arrived) or order.arrived_at is not None
    order.visited_destination = arrived
    devices = set(route_devices(route, stored)) if route and stored else set()
    if order.worker_handle:
        devices.update(repository.worker_device_ids(session, order.account_id,
                                                    order.worker_handle))
    if order.device_id:
        devices.add(order.device_id)
    fix = repository.last_position_before(session, order.account_id, devices, at)
    if fix is not None and (at - fix.recorded_at).total_seconds() <= settings.offline_after_s:
        geofence = Geofence.from_destination(order.destination)
        at_destination = inside_confidence(
            geofence, fix, exit_buffer_m=settings.exit_buffer_m) is not Presence.OUTSIDE
        if order.status == "completed":
            order.deviation_from_destination = round(deviation_from_destination_m(
                geofence, fix.lonlat))
            order.completed_at_destination = at_destination
        else:
            order.cancelled_at_destination = at_destination
    if route is not None and stored is not None and order.polyline is None:
        fill_order_actuals(session, route, stored, order, until=at)


def close_finished(session: Session, route: Route, stored: StoredState, orders: RouteOrders,
                   settings: TrackingSettings) -> None:
    """Sync the plan with the route's orders and fill the completion fields of orders that
    finished since (unless the completion hook already did)."""
    for row in sync_plan(stored, orders.rows, orders.tracked):
        fill_completion(session, route, stored, orders.orm(row.id), settings)


def _lock_route(session: Session, account_id: str, route_handle: str) -> Route | None:
    """The route under a row lock, keeping changes the caller made to it and has not flushed."""
    key = inspect(Route).identity_key_from_primary_key((account_id, route_handle))
    present = session.identity_map.get(key)
    keep_pending = present is not None and present in session.dirty
    return session.get(Route, (account_id, route_handle), with_for_update=True,
                       populate_existing=not keep_pending)


def _tracked(route: Route) -> bool:
    """Whether a route is being (or was) tracked: it has a tracking state to read and update."""
    return route.status in ("tracking", "completed") and route.started_at is not None


def on_order_finished(session: Session, order: Order, *,
                      settings: TrackingSettings | None = None) -> None:
    """Hook for complete and cancel: fill the order's completion fields from the positions and
    stop tracking it; call after its status and finishing time are set, before its timeline
    entry and webhook are written (they carry ``deviation_from_destination``).

    An order on no route, or on a route that was never started, is not tracked: nothing is
    filled (as the periodic job, which only looks at tracked routes, would fill nothing).
    Closing the order in the route state is what keeps the periodic job and the next upload
    (``close_finished``) from filling it a second time.
    """
    if order.route_handle is None:
        return
    tracking = settings or TrackingSettings()
    # Lock the route before the order's own UPDATE is flushed: uploads take the route first
    # and the order after, and the same order here keeps the two from deadlocking.
    with session.no_autoflush:
        route = _lock_route(session, order.account_id, order.route_handle)
        if route is None or not _tracked(route):
            return
        stored = load(route, RouteOrders(session, route).rows, now=clock.now(),
                      settings=tracking)
        at = finished_at(order)
        keys = {t.key for t in stored.pipeline.orders}
        if at is not None and order.id in keys \
                and stored.pipeline.order(order.id).closed_at is None:
            stored.pipeline = close_order(stored.pipeline, order.id, at=at)
        fill_completion(session, route, stored, order, tracking)
        store(route, stored)


def _thinned(fixes: list[Fix], after: datetime | None) -> list[Fix]:
    """At most one fix per POLYLINE_SPACING_S (dense trackers report several a second)."""
    kept: list[Fix] = []
    last = after
    for fix in fixes:
        if last is None or (fix.recorded_at - last).total_seconds() >= POLYLINE_SPACING_S:
            kept.append(fix)
            last = fix.recorded_at
    return kept


def refresh_route_polyline(session: Session, route: Route, stored: StoredState, *,
                           now: datetime, full: bool = False) -> None:
    """Extend the route's actual polyline with the positions stored since the last refresh.

    Incremental, so a refresh reads minutes of positions, not the whole day; ``full``
    rebuilds it from the start (at completion, which also picks up late positions).
    """
    existing = route.polyline if not full and stored.polyline_until is not None else None
    incremental = existing is not None
    points: list[Any] = list(existing.get("coordinates") or []) if existing else []
    since = stored.polyline_until if incremental else route.started_at
    fixes = repository.positions_between(session, route.account_id, route_devices(route, stored),
                                         since=since, until=route.completed_at)
    if incremental:
        fixes = [f for f in fixes if stored.polyline_until is None
                 or f.recorded_at > stored.polyline_until]
    stored.polyline_at = now
    if not fixes:
        return
    last_kept = datetime.fromisoformat(points[-1][3]) if points else None
    points.extend(polyline_points(_thinned(fixes, last_kept)))
    stored.polyline_until = fixes[-1].recorded_at
    route.polyline = {"type": "LineString", "coordinates": points}
    route.start_location = point(points[0][0], points[0][1])
    route.end_location = point(points[-1][0], points[-1][1])


def finalize_route(session: Session, route: Route, stored: StoredState) -> None:
    """Final actuals of a completed route: polyline up to completion, coverage over its span."""
    refresh_route_polyline(session, route, stored, now=clock.now(), full=True)
    actuals = stored.pipeline.actuals
    if actuals.first_at is not None:
        route.distance = round(actuals.distance_m)
        route.tracking_rate = actuals.tracking_rate(since_at=route.started_at,
                                                    until_at=route.completed_at)
    else:
        route.tracking_rate = 0.0
    stored.finalized = True


def on_route_completed(session: Session, route: Route, *,
                       settings: TrackingSettings | None = None) -> None:
    """Hook for route completion (after its status and ``completed_at`` are set): final
    polyline, distance and tracking rate, and the completion fields of its finished orders.

    Once only: a route whose state is already finalized (by this hook or the periodic job) is
    left as it is; a route never started has nothing to finalize."""
    if route.started_at is None:
        return
    with session.no_autoflush:
        orders = RouteOrders(session, route)
        tracking = settings or TrackingSettings()
        stored = load(route, orders.rows, now=clock.now(), settings=tracking)
        if stored.finalized:
            return
        close_finished(session, route, stored, orders, tracking)
        finalize_route(session, route, stored)
        store(route, stored)
