"""Write a pipeline step's outcome to the rows: orders, their timeline, webhooks, the route.

Called inside the transaction that holds the route's row lock, so the stored state, the order
fields derived from it and the outbox events commit together or not at all.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders import service as orders
from routekeeper.orders.wire import share_url
from routekeeper.routes import estimated
from routekeeper.settings import Settings
from routekeeper.tracking.completion import fill_order_actuals, leg_start
from routekeeper.tracking.engine import pipeline as pl
from routekeeper.tracking.engine.fixes import Fix, format_utc_ms
from routekeeper.tracking.engine.pipeline import (
    OrderTrack,
    RouteTrackState,
    TrackEvent,
    leg_distance_m,
)
from routekeeper.tracking.engine.risks import risk_labels, risk_status
from routekeeper.tracking.routeorders import OrderRow, RouteOrders
from routekeeper.tracking.routestate import StoredState, append_tail, store, tail_due
from routekeeper.travel.base import LonLat
from routekeeper.webhooks.outbox import record_order_event

# A stored estimate is rewritten only when the new one differs by this much (see
# _worth_writing): the ETA by ESTIMATE_SLACK_S, the distance by ESTIMATE_SLACK_M (next order)
# or by ESTIMATE_SLACK_FRACTION of what remains (orders further on).
ESTIMATE_SLACK_S = 30.0
ESTIMATE_SLACK_M = 50.0
ESTIMATE_SLACK_FRACTION = 0.1

# Timeline event ids are derived from the order and the kind of event, so an exit can link to
# its arrival without remembering ids, and a replay can never mint a second one.
_EVENT_NAMESPACE = uuid.UUID("6b1d2c1e-0f0a-4a52-9a55-8d7f3c2e5b10")


@dataclass
class Env:
    """What writing back needs besides the rows: the session and the settings."""

    session: Session
    settings: Settings


def event_id(order: Order, kind: str) -> str:
    """The stable id of an order's timeline event of one kind."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{order.id}:{kind}"))


def _ms(value: datetime | None) -> str | None:
    return None if value is None else format_utc_ms(value)


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoJSON Point."""
    return {"type": "Point", "coordinates": [lon, lat]}


def fix_location(fix: Fix) -> dict[str, Any]:
    """A fix as the contract's worker location object."""
    return {"geometry": point(fix.lon, fix.lat), "bearing": fix.bearing_deg,
            "accuracy": fix.accuracy_m, "speed": fix.speed_mps,
            "recorded_at": format_utc_ms(fix.recorded_at)}


def _new_estimate(stored: dict[str, Any] | None, track: OrderTrack, last_fix: Fix | None,
                  now: datetime, *, next_order: bool) -> dict[str, Any] | None:
    """The order's estimate as the pipeline sees it, when it differs enough from the stored
    one to be written (:func:`_worth_writing`); None to leave the stored one alone.

    The rule is decided on the ETA's own values before any of it is rendered: most fixes move
    an ETA by seconds, and rendering three times of each of a route's orders on every fix
    only to keep the stored estimate was about a twentieth of the processor's time in cProfile
    (a single-fix batch of a 12-order route).
    """
    previous = stored or {}
    initial = (previous.get("initial_arrive_at") if track.initial_eta_at is None
               else _initial_text(track.initial_eta_at))
    if track.visit.has_arrived:
        # On site or gone: no ETA any more (the actual time is ``arrived_at``).
        gone = {**{k: v for k, v in previous.items() if k != "current_worker_location"},
                "arrive_at": None, "initial_arrive_at": initial, "remaining_distance": 0,
                "remaining_duration": 0, "distance": 0, "duration": 0}
        return gone if _worth_writing(stored, gone, now, next_order=next_order) else None
    if track.eta_at is None or track.remaining_distance_m is None:
        return None
    # An ETA is never in the past: a stale one is at least "now" (the worker is late).
    arrive_at = max(track.eta_at, now)
    distance_m = round(track.remaining_distance_m)
    if (stored is not None and stored.get("arrive_at") is not None
            and not _moved(stored, _to_ms(arrive_at), distance_m, initial, now,
                           next_order=next_order)):
        return None
    if arrive_at == track.eta_at and track.remaining_duration_s is not None:
        duration_s = round(track.remaining_duration_s)
    else:
        duration_s = round((arrive_at - now).total_seconds())
    estimate = {**previous, "arrive_at": format_utc_ms(arrive_at), "initial_arrive_at": initial,
                "remaining_distance": distance_m, "remaining_duration": duration_s,
                "distance": distance_m, "duration": duration_s}
    if last_fix is not None:
        estimate["current_worker_location"] = fix_location(last_fix)
    return estimate


@lru_cache(maxsize=16384)
def _initial_text(initial_eta_at: datetime) -> str:
    """An order's initial ETA as stored. It is set once and compared on every batch of its
    route, so its text is looked up rather than rendered each time."""
    return format_utc_ms(initial_eta_at)


def _to_ms(value: datetime) -> datetime:
    """An instant as its stored rendering reads back (milliseconds, truncated)."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _worth_writing(old: dict[str, Any] | None, new: dict[str, Any], now: datetime, *,
                   next_order: bool) -> bool:
    """Whether an order's new estimate differs enough from the stored one to rewrite the row.

    Every upload moves every ETA a little; rewriting each order of a long route each time is
    most of an upload's database work. The stored one is kept while it is within
    ESTIMATE_SLACK_S of the new ETA and its distance within ESTIMATE_SLACK_M (the next order)
    or ESTIMATE_SLACK_FRACTION of the remaining distance (orders further on), and never once
    its ETA has passed.
    """
    if old is None or old.get("arrive_at") is None or new["arrive_at"] is None:
        return old != new
    return _moved(old, datetime.fromisoformat(new["arrive_at"]), new["remaining_distance"],
                  new.get("initial_arrive_at"), now, next_order=next_order)


def _moved(old: dict[str, Any], arrive_at: datetime, distance_m: int, initial: str | None,
           now: datetime, *, next_order: bool) -> bool:
    """:func:`_worth_writing` for a stored estimate with an ETA and a new ETA's values."""
    if old.get("initial_arrive_at") != initial:
        return True
    old_at = datetime.fromisoformat(old["arrive_at"])
    if old_at < now:
        return True
    if abs((arrive_at - old_at).total_seconds()) >= ESTIMATE_SLACK_S:
        return True
    old_m = old.get("remaining_distance")
    if old_m is None:
        return True
    slack_m = (ESTIMATE_SLACK_M if next_order
               else max(ESTIMATE_SLACK_M, ESTIMATE_SLACK_FRACTION * distance_m))
    return bool(abs(distance_m - old_m) >= slack_m)


def _newly_arrived(track: OrderTrack, row: OrderRow) -> bool:
    """The pipeline found the order's arrival and its row does not have it yet."""
    return track.visit.arrived_at is not None and row.arrived_at is None


def _newly_exited(track: OrderTrack, row: OrderRow) -> bool:
    """The pipeline found the order's exit and its row does not have it yet."""
    return track.visit.exited_at is not None and row.exited_at is None


def _sync_order(env: Env, route: Route, orders: RouteOrders, row: OrderRow, stored: StoredState,
                track: OrderTrack, now: datetime, next_key: str | None) -> bool:
    """Copy one order's visit, ETA and risks from the state to its row; whether anything
    changed."""
    state = stored.pipeline
    visit = track.visit
    changed = False
    if visit.arrived_at is not None and _newly_arrived(track, row):
        changed = True
        order = orders.orm(row.id)
        order.arrived_at = visit.arrived_at
        order.visited_destination = True
        leg_m = leg_distance_m(state, track.key)
        if leg_m is not None:
            order.distance = round(leg_m)
        order.updated_at = now
    if visit.exited_at is not None and _newly_exited(track, row):
        changed = True
        order = orders.orm(row.id)
        order.exited_at = visit.exited_at
        service_s = visit.actual_service_time_s
        order.actual_service_time = None if service_s is None else round(service_s)
        order.updated_at = now
        fill_order_actuals(env.session, route, stored, order, until=visit.exited_at)
    if not track.open:
        return changed
    estimate = _new_estimate(row.estimate, track, state.last_fix, now,
                             next_order=track.key == next_key)
    if estimate is None:
        estimate = row.estimate
    risks, status = row.risks, row.risk_status
    if track.risks:
        risks = risk_labels(track.risks)
        status = risk_status(track.risks)
    if (estimate, risks, status) != (row.estimate, row.risks, row.risk_status):
        orders.set_tracking(row.id, estimate=estimate, risks=risks, risk_status=status)
        return True
    return changed


def _quiet_until(track: OrderTrack, row: OrderRow) -> datetime | None:
    """From when a sync of this track and row that changed nothing may change something with
    the time alone (None: never): once the new ETA or the stored one has passed, the stored
    estimate is rewritten (:func:`_new_estimate`, :func:`_moved`). Nothing else it reads
    depends on the time."""
    if not track.open or track.visit.has_arrived or track.eta_at is None:
        return None
    stored = (row.estimate or {}).get("arrive_at")
    if stored is None:
        return track.eta_at
    return min(track.eta_at, datetime.fromisoformat(stored))


def _visit_location(event: TrackEvent) -> dict[str, Any]:
    return {"geometry": event.data["location"], "recorded_at": event.data["recorded_at"],
            "accuracy": event.data["accuracy_m"]}


def _timeline(env: Env, route: Route, order: Order, state: RouteTrackState, event: TrackEvent
              ) -> None:
    """The geofence and service entries of an arrival or exit (contract 3.9)."""
    destination = order.destination or {}
    common: dict[str, Any] = {"order_id": order.id, "location": _visit_location(event),
                              "address": destination.get("address"), "outside_scope": False}
    add = orders.add_timeline
    if event.value == pl.ARRIVED:
        since = leg_start(route, state, order.id)
        travel_s = None if since is None else round((event.at - since).total_seconds())
        leg_m = leg_distance_m(state, order.id)
        entered = event_id(order, "geofence_entered")
        add(env.session, order, "order_geofence_entered", recorded_at=event.at,
            event_id=entered, linked_event_ids=[], duration=travel_s,
            distance=None if leg_m is None else round(leg_m), **common)
        add(env.session, order, "order_service_started", recorded_at=event.at,
            event_id=event_id(order, "service_started"), linked_event_ids=[entered],
            duration=None, distance=None, **common)
        return
    exited = event_id(order, "geofence_exited")
    service_s = event.data.get("actual_service_time_s")
    add(env.session, order, "order_geofence_exited", recorded_at=event.at, event_id=exited,
        linked_event_ids=[event_id(order, "geofence_entered")], duration=service_s,
        distance=None, **common)
    add(env.session, order, "order_service_ended", recorded_at=event.at,
        event_id=event_id(order, "service_ended"),
        linked_event_ids=[exited, event_id(order, "service_started")], duration=service_s,
        distance=None, **common)


def _estimated_route(env: Env, order: Order, state: RouteTrackState, event: TrackEvent) -> str:
    """Store the drive behind an ETA event: the worker's position, then the stops still ahead
    in sequence up to this order; return its ``estimated_route_id``."""
    points: list[LonLat] = []
    if state.last_fix is not None:
        points.append((state.last_fix.lon, state.last_fix.lat))
    for track in state.orders:
        if track.key == event.order_key:
            points.append(track.order.geofence.center)
            break
        if track.awaiting_arrival:
            points.append(track.order.geofence.center)
    return estimated.record(env.session, order.account_id, order.id, points,
                            distance_m=round(event.data["remaining_distance_m"]),
                            duration_s=round(event.data["remaining_duration_s"]), now=event.at)


def _webhook(env: Env, order: Order, track: OrderTrack, state: RouteTrackState,
             event: TrackEvent) -> None:
    """The outbox event of one TrackEvent, in the contract's ``data`` shape (5.2)."""
    data = event.data
    here = None if state.last_fix is None else point(state.last_fix.lon, state.last_fix.lat)
    extra: dict[str, Any] = {}
    location = here
    if event.value in (pl.ARRIVED, pl.EXITED):
        location = data["location"]
        visit = {"location": location, "recorded_at": data["recorded_at"],
                 "location_accuracy": data["accuracy_m"]}
        extra = {"arrival": visit} if event.value == pl.ARRIVED else {"exit": visit,
                                                                      "reason": "location"}
        extra.update(scheduled_at=_ms(order.scheduled_at), initial_eta=_ms(track.initial_eta_at),
                     place_handle=(order.destination or {}).get("place_handle"))
    elif event.value == pl.ETA:
        # The periodic ETA (contract 5.2): where the worker is, without a stored drive (one
        # a minute per route would pile up; ``estimated_route_id`` is optional).
        extra = {"remaining_duration": data["remaining_duration_s"],
                 "remaining_distance": data["remaining_distance_m"], "arrive_at": data["eta_at"],
                 "driver_location": here, "scheduled_at": _ms(order.scheduled_at)}
    elif event.value in (pl.FIRST_ETA, pl.ETA_CHANGE, pl.N_MINUTES_AWAY):
        extra = {"remaining_duration": data["remaining_duration_s"],
                 "remaining_distance": data["remaining_distance_m"], "arrive_at": data["eta_at"]}
        if event.value == pl.ETA_CHANGE:
            extra.update(previous_arrive_at=data["previous_eta_at"],
                         change_reason="position_update")
        if event.value == pl.N_MINUTES_AWAY:
            extra["remaining_minutes"] = math.ceil(data["remaining_duration_s"] / 60)
        extra["estimated_route_id"] = _estimated_route(env, order, state, event)
    elif event.value == pl.DELAYED:
        extra = {"arrive_at": data["eta_at"], "scheduled_at": data["scheduled_at"],
                 "initial_eta": _ms(track.initial_eta_at), "delay": data["delay_s"]}
    elif event.value == pl.RISK_UPDATED:
        extra = {"risks": data["risks"], "risk_status": data["risk_status"]}
    record_order_event(env.session, order, event.value, recorded_at=event.at, location=location,
                       share_url=share_url(order, env.settings.public_url), **extra)


def write_back(env: Env, route: Route, orders: RouteOrders, stored: StoredState,
               events: list[TrackEvent], *, now: datetime,
               batch: Sequence[Fix] | None = None) -> None:
    """Apply the state and events of one step to the orders and the route, then store the state.

    Row fields first, so every webhook carries the order as it is after the step. ``batch``:
    the processor's fixes of a step that changed nothing before the pipeline ran (devices,
    plan, switch); when the step has no event and changes no order beyond its estimate and
    risks, the route's tail records them instead of a new checkpoint of the state
    (``routestate``). Those two are copies of what the pipeline computed, written again
    whenever it does: a replay that starts from an older ETA only evaluates it sooner.
    """
    state = stored.pipeline
    next_key = next((t.key for t in state.orders if t.awaiting_arrival), None)
    orders.load([*(event.order_key for event in events), *_visited_now(state, orders)])
    # The rows this step adds (timeline, outbox, estimated routes) are flushed together at
    # the next query, not one by one before each of the step's reads.
    with env.session.no_autoflush:
        for track in state.orders:
            row = orders.by_id.get(track.key)
            if row is None:
                continue
            heading = track.key == next_key
            if orders.quiet(track, row, heading, now):
                continue
            if not _sync_order(env, route, orders, row, stored, track, now, next_key):
                orders.note_quiet(track, row, heading, _quiet_until(track, row))
        for event in events:
            if event.order_key not in orders.by_id:
                continue
            order = orders.orm(event.order_key)
            if event.value in (pl.ARRIVED, pl.EXITED):
                _timeline(env, route, order, state, event)
            _webhook(env, order, state.order(event.order_key), state, event)
        orders.flush()
    _route_actuals(route, state)
    if (batch is not None and not events and not orders.took_objects
            and not tail_due(route, now, adding=len(batch))):
        append_tail(route, batch, now)
        metrics.STATE_WRITES.labels("tail").inc()
    else:
        store(route, stored)
        metrics.STATE_WRITES.labels("checkpoint").inc()


def _visited_now(state: RouteTrackState, orders: RouteOrders) -> list[str]:
    """The orders whose arrival or exit this step found and their rows do not have yet."""
    found = []
    for track in state.orders:
        row = orders.by_id.get(track.key)
        if row is not None and (_newly_arrived(track, row) or _newly_exited(track, row)):
            found.append(track.key)
    return found


def _route_actuals(route: Route, state: RouteTrackState) -> None:
    """Distance, duration, coverage and end point of the route so far."""
    actuals = state.actuals
    if actuals.first_at is None or state.last_fix is None:
        return
    route.distance = round(actuals.distance_m)
    if route.started_at is not None and actuals.last_at is not None:
        route.duration = max(0, round((actuals.last_at - route.started_at).total_seconds()))
    route.tracking_rate = actuals.tracking_rate(since_at=route.started_at)
    route.end_location = point(state.last_fix.lon, state.last_fix.lat)
