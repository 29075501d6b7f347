"""The tracking pipeline: a batch of fixes in, a new route state and webhook events out.

Steps, in order, for each batch (each one a small pure function):

1. :func:`screen_fixes` sorts by ``recorded_at``, drops duplicates, rejects implausible fixes
   and splits the rest into *fresh* (newer than the last processed fix) and *late*.
2. Late fixes fill tracking-coverage gaps (:meth:`Actuals.add_late`) and may establish a
   visit that was missed (:func:`_replay_late`): a batch holding a whole stop that arrives
   after a newer batch still makes the order arrive and exit, once, at their true times.
3. Each fresh fix advances the actuals and every open order's visit (:func:`arrival.step`):
   ``arrived`` / ``exited``.
4. One ETA evaluation from the newest position (:func:`eta.estimate_remaining`):
   ``first_eta``, ``eta_change``, ``n_minutes_away``, ``delayed``, and the periodic ``eta``
   of the order the worker is on the way to.
5. Risks per order, diffed against the stored ones: ``risk_updated``. A batch that re-evaluates
   no ETA and finds no visit passes them over when nothing they are computed from can have
   changed (:func:`_risks_steady`).

:func:`check_offline` is the periodic, fix-less counterpart (offline and clock-driven delays).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import risks as rk
from routekeeper.tracking.engine.actuals import Actuals
from routekeeper.tracking.engine.arrival import (
    VisitEvent,
    VisitEventKind,
    VisitPhase,
    VisitState,
    step,
)
from routekeeper.tracking.engine.eta import Stop, StopEta, estimate_remaining
from routekeeper.tracking.engine.evolve import evolve
from routekeeper.tracking.engine.fixes import (
    Fix,
    Instant,
    format_utc_ms,
    implausible_move,
    require_aware,
    validate_fix,
)
from routekeeper.tracking.engine.geofence import Box, StoredGeofence, box_of
from routekeeper.travel.base import TravelError, TravelModel

STATE_VERSION: Final = 1

ETA_CHANGE_MIN_S = 120.0
"""``eta_change`` fires when the ETA moved by more than this many seconds..."""

ETA_CHANGE_FRACTION = 0.1
"""...or by more than this fraction of the remaining duration, whichever is larger."""

RECENT_FIXES = rk.MOVING_AWAY_WINDOW_FIXES
"""How many of the newest fixes the state keeps (for ``moving_away_from_destination``)."""

ARRIVED = "arrived"
EXITED = "exited"
FIRST_ETA = "first_eta"
ETA = "eta"
ETA_CHANGE = "eta_change"
N_MINUTES_AWAY = "n_minutes_away"
DELAYED = "delayed"
RISK_UPDATED = "risk_updated"


def _ms(value: datetime | None) -> str | None:
    """Format an optional time for an event payload."""
    return None if value is None else format_utc_ms(value)


@dataclass(frozen=True, slots=True)
class TrackedOrder:
    """What tracking needs to know about one order of the route (its plan, not its progress)."""

    order_key: str
    geofence: StoredGeofence
    scheduled_after: Instant | None = None
    scheduled_at: Instant | None = None
    service_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OrderTrack:
    """One order's progress: its visit, ETAs, one-shot event flags, risks and distance marks."""

    order: TrackedOrder
    visit: VisitState = field(default_factory=VisitState)
    closed_at: Instant | None = None
    initial_eta_at: Instant | None = None
    eta_at: Instant | None = None
    announced_eta_at: Instant | None = None
    remaining_distance_m: float | None = None
    remaining_duration_s: float | None = None
    n_minutes_away_sent: bool = False
    delayed_sent: bool = False
    eta_sent_at: Instant | None = None
    risks: Mapping[str, rk.StoredRisk] = field(default_factory=dict)
    distance_at_arrival_m: float | None = None
    distance_at_exit_m: float | None = None

    @property
    def key(self) -> str:
        """Return the order key."""
        return self.order.order_key

    @property
    def open(self) -> bool:
        """Return whether the order still takes part in tracking (not closed, not exited)."""
        return self.closed_at is None and self.visit.phase is not VisitPhase.EXITED

    @property
    def awaiting_arrival(self) -> bool:
        """Return whether the order is open and the worker has not arrived yet."""
        return self.open and not self.visit.has_arrived


@dataclass(frozen=True, slots=True)
class RouteTrackState:
    """Everything tracking remembers about one route between batches (store it as JSON)."""

    started_at: Instant
    orders: tuple[OrderTrack, ...] = ()
    last_fix: Fix | None = None
    recent_fixes: tuple[Fix, ...] = ()
    battery_percent: float | None = None
    actuals: Actuals = field(default_factory=Actuals)
    evaluated_at: Instant | None = None
    etas_evaluated_at: Instant | None = None
    fixes_accepted: int = 0
    fixes_late: int = 0
    fixes_rejected: int = 0
    fixes_duplicate: int = 0
    # Until when the orders' risks stay what their last evaluation made them unless a fix,
    # a visit or a new ETA changes what they are computed from (:func:`_risks_steady`);
    # None: evaluate them at the next batch.
    risks_steady_until: Instant | None = None
    # The stored form's version: state of another version does not load (a ValueError).
    version: Literal[1] = STATE_VERSION

    @classmethod
    def start(cls, orders: Sequence[TrackedOrder], *, started_at: datetime) -> RouteTrackState:
        """Begin tracking ``orders`` (in route sequence) at ``started_at``."""
        keys = [o.order_key for o in orders]
        if len(set(keys)) != len(keys):
            raise ValueError("order keys must be unique within a route")
        return cls(
            started_at=require_aware(started_at, "started_at"),
            orders=tuple(OrderTrack(order=o) for o in orders),
        )

    def order(self, order_key: str) -> OrderTrack:
        """Return the track of one order (KeyError when the route has no such order)."""
        for track in self.orders:
            if track.key == order_key:
                return track
        raise KeyError(order_key)


@dataclass(frozen=True, slots=True)
class TrackEvent:
    """One webhook-worthy event; ``value`` is the Orders API webhook value, ``data`` JSON-safe."""

    value: str
    order_key: str
    at: datetime
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "value": self.value,
            "order_key": self.order_key,
            "at": format_utc_ms(self.at),
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class Screened:
    """A batch after screening: fixes for the visit logic, late ones, rejects with reasons."""

    fresh: list[Fix]
    late: list[Fix]
    rejected: list[tuple[Fix, str]]
    duplicates: int


def _accuracy_rank(fix: Fix) -> float:
    """Sort key: better accuracy first, unknown accuracy last."""
    return float("inf") if fix.accuracy_m is None else fix.accuracy_m


def screen_fixes(
    state: RouteTrackState,
    fixes: Sequence[Fix],
    *,
    now: datetime,
    settings: TrackingSettings,
    prescreened: bool = False,
) -> Screened:
    """Sort, de-duplicate (one fix per instant, the most accurate) and validate a batch.

    Fixes before the route started are rejected; with ``prescreened`` the caller has already
    applied ``validate_fix``'s static checks and only the implied speed is judged. Fixes not
    newer than the last processed fix are *late* (their implied speed cannot be judged, so only
    static checks apply) or, at the very same instant, duplicates. Implied speed is judged
    against the last accepted fix.
    """
    now = require_aware(now, "now")
    rejected: list[tuple[Fix, str]] = []
    aware: list[Fix] = []
    for fix in fixes:
        if fix.recorded_at.tzinfo is None or fix.recorded_at.utcoffset() is None:
            rejected.append((fix, "recorded_at has no time zone"))
        else:
            aware.append(fix)
    aware.sort(key=lambda f: (f.recorded_at, _accuracy_rank(f)))
    unique: list[Fix] = []
    duplicates = 0
    for fix in aware:
        if unique and unique[-1].recorded_at == fix.recorded_at:
            duplicates += 1
        else:
            unique.append(fix)

    last_at = None if state.last_fix is None else state.last_fix.recorded_at
    previous = state.last_fix
    fresh: list[Fix] = []
    late: list[Fix] = []
    for fix in unique:
        if fix.recorded_at < state.started_at:
            rejected.append((fix, "recorded_at is before tracking started"))
            continue
        is_late = last_at is not None and fix.recorded_at <= last_at
        if prescreened:
            # The caller ran the static checks; only the implied speed from this route's
            # last fix is left to judge.
            reason = (None if is_late or previous is None
                      else implausible_move(fix, previous, settings.max_speed_mps))
        else:
            reason = validate_fix(
                fix,
                now=now,
                previous=None if is_late else previous,
                max_future_skew_s=settings.max_future_skew_s,
                max_speed_mps=settings.max_speed_mps,
            )
        if reason is not None:
            rejected.append((fix, reason))
        elif is_late and fix.recorded_at == last_at:
            duplicates += 1
        elif is_late:
            late.append(fix)
        else:
            fresh.append(fix)
            previous = fix
    return Screened(fresh, late, rejected, duplicates)


def _next_key(orders: Sequence[OrderTrack]) -> str | None:
    """The first order in sequence the worker has yet to arrive at."""
    return next((t.key for t in orders if t.awaiting_arrival), None)


def _location(event: VisitEvent) -> dict[str, Any]:
    """The event's position as a GeoJSON Point."""
    return {"type": "Point", "coordinates": [event.lon, event.lat]}


def _visit_event(track: OrderTrack, event: VisitEvent) -> TrackEvent:
    """Turn a visit event into an ``arrived`` or ``exited`` TrackEvent."""
    data: dict[str, Any] = {
        "recorded_at": format_utc_ms(event.recorded_at),
        "confirmed_at": format_utc_ms(event.confirmed_at),
        "location": _location(event),
        "accuracy_m": event.accuracy_m,
    }
    if event.kind is VisitEventKind.ARRIVED:
        data["scheduled_at"] = _ms(track.order.scheduled_at)
        return TrackEvent(ARRIVED, track.key, event.recorded_at, data)
    service_s = track.visit.actual_service_time_s
    data["arrived_at"] = _ms(track.visit.arrived_at)
    data["actual_service_time_s"] = None if service_s is None else round(service_s)
    return TrackEvent(EXITED, track.key, event.recorded_at, data)


def _advance_visits(
    orders: list[OrderTrack],
    stepped: Sequence[int],
    fix: Fix,
    distance_m: float,
    settings: TrackingSettings,
    boxes: Sequence[Box | None],
    next_key: str | None,
) -> list[TrackEvent]:
    """Step the visits of the orders at ``stepped`` with one fix (in place); the visit events.
    ``distance_m`` is the route's distance with this fix counted (recorded at an arrival or
    exit).

    An order still approaching whose box the fix lies outside cannot change phase (only an
    INSIDE fix opens a candidate), so it is not stepped. With tens of orders and hundreds of
    fixes a batch, this keeps the cost per fix near one bounds check per order near the
    batch's path.

    Its visit's ``last_fix_at`` stays the last fix it was stepped with. That field only keeps
    a visit from being stepped with a fix older than one it saw, and every fresh fix is newer
    than the route's newest, so a visit far behind needs no copy to record each fix it was
    passed over for: that copy of every waiting order on every batch was a twentieth of the
    processor's time (py-spy, the 2,000-phone benchmark).
    """
    events: list[TrackEvent] = []
    for i in stepped:
        track = orders[i]
        if not track.open:
            continue
        box = boxes[i]
        if (
            box is not None
            and track.visit.phase is VisitPhase.APPROACHING
            and not box.may_contain(fix.lon, fix.lat)
        ):
            continue
        visit, visit_events = step(
            track.visit,
            fix,
            track.order.geofence,
            dwell_s=settings.dwell_s,
            exit_buffer_m=settings.exit_buffer_m,
            require_dwell=track.key != next_key,
        )
        track = evolve(track, visit=visit)
        for event in visit_events:
            if event.kind is VisitEventKind.ARRIVED:
                track = evolve(track, distance_at_arrival_m=distance_m)
            else:
                track = evolve(track, distance_at_exit_m=distance_m)
            events.append(_visit_event(track, event))
        orders[i] = track
    return events


def _stepped(orders: Sequence[OrderTrack], boxes: Sequence[Box | None], fixes: Sequence[Fix]
             ) -> list[int]:
    """The orders a batch must step fix by fix; approaching ones whose box no fix of the batch
    lies in are passed over for the whole batch (see :func:`_advance_visits`)."""
    lons = [f.lon for f in fixes]
    lats = [f.lat for f in fixes]
    area = Box(min(lons), max(lons), min(lats), max(lats))
    stepped: list[int] = []
    for i, track in enumerate(orders):
        if not track.open:
            continue
        box = boxes[i]
        if box is None or track.visit.phase is not VisitPhase.APPROACHING \
                or box.overlaps(area):
            stepped.append(i)
    return stepped


def _replay_late(
    orders: list[OrderTrack],
    late: Sequence[Fix],
    recent: Sequence[Fix],
    boxes: Sequence[Box | None],
    settings: TrackingSettings,
) -> list[TrackEvent]:
    """Establish visits that late fixes show and that were missed (in place); their events.

    Only orders not yet arrived are replayed, so an arrival is never announced twice: their
    visit is run afresh over the late fixes followed by the newest fixes already processed
    (``recent``), in time order, the way it would have run had the fixes come in order. An
    arrival found is adopted with its true time, and so is an exit that follows it.
    """
    events: list[TrackEvent] = []
    if not late:
        return events
    first = late[0].recorded_at
    merged: dict[datetime, Fix] = {f.recorded_at: f for f in recent if f.recorded_at > first}
    merged.update((f.recorded_at, f) for f in late)
    sequence = [merged[at] for at in sorted(merged)]
    lons = [f.lon for f in late]
    lats = [f.lat for f in late]
    area = Box(min(lons), max(lons), min(lats), max(lats))
    next_key = _next_key(orders)
    for i, track in enumerate(orders):
        if not track.awaiting_arrival:
            continue
        box = boxes[i]
        if box is not None and not box.overlaps(area):
            continue  # no late fix near this stop: nothing it could show
        visit = VisitState()
        found: list[VisitEvent] = []
        for fix in sequence:
            visit, step_events = step(visit, fix, track.order.geofence,
                                      dwell_s=settings.dwell_s,
                                      exit_buffer_m=settings.exit_buffer_m,
                                      require_dwell=track.key != next_key)
            found.extend(step_events)
        if not visit.has_arrived:
            continue
        # The stop's own fixes set last_fix_at; keep the newest the visit had seen.
        seen = track.visit.last_fix_at
        if seen is not None and (visit.last_fix_at is None or visit.last_fix_at < seen):
            visit = evolve(visit, last_fix_at=seen)
        track = evolve(track, visit=visit)
        for event in found:
            events.append(_visit_event(track, event))
        orders[i] = track
        next_key = _next_key(orders)
    return events


def _eta_stops(orders: Sequence[OrderTrack]) -> list[Stop]:
    """Open orders as ETA stops: the ones the worker is on site at first, then in sequence."""
    on_site = [t for t in orders if t.open and t.visit.on_site]
    ahead = [t for t in orders if t.awaiting_arrival]
    return [
        Stop(
            order_key=t.key,
            location=t.order.geofence.center,
            scheduled_after=t.order.scheduled_after,
            scheduled_at=t.order.scheduled_at,
            service_s=t.order.service_s,
            on_site=t.visit.on_site,
            on_site_since_at=t.visit.arrived_at,
        )
        for t in (*on_site, *ahead)
    ]


def eta_change_threshold_s(remaining_duration_s: float) -> float:
    """Return how far an ETA must move before ``eta_change`` fires."""
    return max(ETA_CHANGE_MIN_S, ETA_CHANGE_FRACTION * max(0.0, remaining_duration_s))


def _eta_payload(eta: StopEta) -> dict[str, Any]:
    """The common data of ETA events."""
    return {
        "eta_at": format_utc_ms(eta.arrive_at),
        "remaining_distance_m": round(eta.remaining_distance_m),
        "remaining_duration_s": round(eta.remaining_duration_s),
    }


def _apply_eta(
    track: OrderTrack, eta: StopEta, at: datetime, settings: TrackingSettings, *,
    heading: bool = False,
) -> tuple[OrderTrack, list[TrackEvent]]:
    """Store a new ETA for an order not yet arrived at and derive its ETA events; the order
    the worker is ``heading`` to also gets the periodic ``eta``, at most every
    ``settings.eta_interval_s`` (counted from its ``first_eta``)."""
    events: list[TrackEvent] = []
    track = evolve(
        track,
        eta_at=eta.arrive_at,
        remaining_distance_m=eta.remaining_distance_m,
        remaining_duration_s=eta.remaining_duration_s,
    )
    if track.initial_eta_at is None:
        track = evolve(track, initial_eta_at=eta.arrive_at, announced_eta_at=eta.arrive_at,
                        eta_sent_at=at)
        events.append(TrackEvent(FIRST_ETA, track.key, at, _eta_payload(eta)))
    else:
        if heading and settings.eta_interval_s > 0 and (
                track.eta_sent_at is None
                or (at - track.eta_sent_at).total_seconds() >= settings.eta_interval_s):
            track = evolve(track, eta_sent_at=at)
            events.append(TrackEvent(ETA, track.key, at, _eta_payload(eta)))
        if track.announced_eta_at is not None:
            moved_s = abs((eta.arrive_at - track.announced_eta_at).total_seconds())
            if moved_s > eta_change_threshold_s(eta.remaining_duration_s):
                data = _eta_payload(eta) | {
                    "previous_eta_at": format_utc_ms(track.announced_eta_at)}
                track = evolve(track, announced_eta_at=eta.arrive_at)
                events.append(TrackEvent(ETA_CHANGE, track.key, at, data))
    if not track.n_minutes_away_sent and eta.remaining_duration_s <= settings.n_minutes_away * 60:
        track = evolve(track, n_minutes_away_sent=True)
        data = _eta_payload(eta) | {"n_minutes": settings.n_minutes_away}
        events.append(TrackEvent(N_MINUTES_AWAY, track.key, at, data))
    track, delayed = _maybe_delayed(track, eta.arrive_at, at)
    return track, events + delayed


def _maybe_delayed(
    track: OrderTrack, eta_at: datetime, at: datetime
) -> tuple[OrderTrack, list[TrackEvent]]:
    """Fire ``delayed`` once, the first time the ETA lies after ``scheduled_at``."""
    scheduled_at = track.order.scheduled_at
    if track.delayed_sent or scheduled_at is None or eta_at <= scheduled_at:
        return track, []
    data = {
        "eta_at": format_utc_ms(eta_at),
        "scheduled_at": format_utc_ms(scheduled_at),
        "delay_s": round((eta_at - scheduled_at).total_seconds()),
    }
    return evolve(track, delayed_sent=True), [TrackEvent(DELAYED, track.key, at, data)]


def _evaluate_risks(
    track: OrderTrack,
    *,
    eta_bound_at: datetime | None,
    now: datetime,
    moving_away: rk.Risk,
    route_risks: tuple[rk.Risk, rk.Risk],
) -> tuple[OrderTrack, list[TrackEvent]]:
    """Compute one order's risks, store them, and emit ``risk_updated`` when a label changed.
    ``route_risks``: the ones every order of the route shares (:func:`_route_risks`)."""
    reference_at = track.visit.arrived_at if track.visit.has_arrived else eta_bound_at
    offline, battery = route_risks
    current = {
        rk.DELAYED_FROM_SCHEDULED_AT: rk.delay_risk(reference_at, track.order.scheduled_at),
        rk.DELAYED_FROM_INITIAL_ETA: rk.initial_eta_risk(reference_at, track.initial_eta_at),
        rk.IS_OFFLINE: offline,
        rk.MOVING_AWAY_FROM_DESTINATION: moving_away,
        rk.IN_LOW_BATTERY: battery,
    }
    if current == track.risks:
        return track, []  # the same track, not a copy: unchanged orders stay shared
    diff = rk.risk_diff(track.risks, current)
    track = evolve(track, risks=current)
    if not diff:
        return track, []
    data = {"risks": diff, "risk_status": rk.risk_status(current)}
    return track, [TrackEvent(RISK_UPDATED, track.key, now, data)]


def _route_risks(state: RouteTrackState, now: datetime, settings: TrackingSettings
                 ) -> tuple[rk.Risk, rk.Risk]:
    """The risks of the worker rather than of an order (offline, low battery), the same for
    every order of the route: evaluated once a batch, not once an order."""
    last_fix_at = None if state.last_fix is None else state.last_fix.recorded_at
    offline = rk.offline_risk(last_fix_at, state.started_at, now,
                              offline_after_s=settings.offline_after_s)
    battery = rk.battery_risk(state.battery_percent,
                              low_battery_percent=settings.low_battery_percent)
    return offline, battery


# What one order's step before its risks leads to: its track and events, and the ETA bound
# and moving-away risk its risks are computed with.
_Prepared = tuple[OrderTrack, list[TrackEvent], datetime | None, rk.Risk]


def _with_risks(
    state: RouteTrackState,
    events: list[TrackEvent],
    prepare: Callable[[OrderTrack], _Prepared],
    selected: Callable[[OrderTrack], bool],
    *,
    now: datetime,
    settings: TrackingSettings,
) -> tuple[RouteTrackState, list[TrackEvent]]:
    """Step 5 after an order's own step: for each ``selected`` order in route order,
    ``prepare`` it, then evaluate its risks; its events follow ``events`` in that order. The
    state with the new tracks, and all the events."""
    orders = list(state.orders)
    route_risks = _route_risks(state, now, settings)
    for i, track in enumerate(orders):
        if not selected(track):
            continue
        track, prepared_events, eta_bound, moving_away = prepare(track)
        track, risk_events = _evaluate_risks(track, eta_bound_at=eta_bound, now=now,
                                             moving_away=moving_away, route_risks=route_risks)
        events.extend(prepared_events + risk_events)
        orders[i] = track
    return evolve(state, orders=tuple(orders)), events


def process_fixes(
    route_state: RouteTrackState,
    fixes: Sequence[Fix],
    *,
    now: datetime,
    travel: TravelModel,
    settings: TrackingSettings,
    prescreened: bool = False,
    eta_every_s: float = 0.0,
    eta_phase_s: float = 0.0,
    estimate: bool = True,
) -> tuple[RouteTrackState, list[TrackEvent]]:
    """Run one batch of fixes through the pipeline and return the new state and its events.

    Visits and actuals advance fix by fix; ETAs (one travel-matrix call) and risks are evaluated
    once per batch from the newest position at ``max(now, newest recorded_at)``.  A failing
    travel model (TravelError) leaves the previous ETAs in place; visits are still recorded.
    With ``eta_every_s`` ETAs are re-evaluated once in each slot of that length (unless a
    visit changed or an order has none yet): devices that send one fix a request would
    otherwise cost one travel-matrix call per fix. The route's slots begin ``eta_phase_s``
    into each period (:func:`eta_slot`): routes with different phases re-evaluate at
    different moments however they started, so a fleet's ETA work is spread evenly over the
    period instead of coming in waves (routes started together, as a day's routes are, would
    otherwise stay together, each re-evaluating the same time after the last).

    Without ``estimate`` only steps 1-3 run (screening, visits, actuals): a replay of fixes
    whose ETAs and risks need not be repeated (``routestate``'s tail). Visits never depend
    on ETAs or risks, so they come out as in the full run.
    """
    now = require_aware(now, "now")
    screened = screen_fixes(route_state, fixes, now=now, settings=settings,
                            prescreened=prescreened)
    state = evolve(
        route_state,
        fixes_accepted=route_state.fixes_accepted + len(screened.fresh),
        fixes_late=route_state.fixes_late + len(screened.late),
        fixes_rejected=route_state.fixes_rejected + len(screened.rejected),
        fixes_duplicate=route_state.fixes_duplicate + screened.duplicates,
    )
    actuals = state.actuals
    for fix in screened.late:
        actuals = actuals.add_late(fix)
    orders = list(state.orders)
    open_before = {t.key for t in orders if t.open}
    boxes = [box_of(t.order.geofence) for t in orders]
    events = _replay_late(orders, screened.late, state.recent_fixes, boxes, settings)
    if not screened.fresh and not events:
        return evolve(state, actuals=actuals), []
    if not screened.fresh:
        # Late fixes changed a visit: ETAs and risks follow from the newest position.
        newest_known = state.last_fix
        assert newest_known is not None  # late fixes exist only after a processed one
        state = evolve(state, orders=tuple(orders), actuals=actuals, evaluated_at=now)
        if not estimate:
            return state, events
        return _estimate(state, orders, events, open_before, newest_known, now=now,
                         travel=travel, settings=settings, eta_every_s=eta_every_s,
                         eta_phase_s=eta_phase_s)

    battery = state.battery_percent
    stepped = _stepped(orders, boxes, screened.fresh)
    next_key = _next_key(orders)
    actuals, distances = actuals.add_fresh(screened.fresh)
    for fix, distance_m in zip(screened.fresh, distances, strict=True):
        if fix.battery_percent is not None:
            battery = fix.battery_percent
        visit_events = _advance_visits(orders, stepped, fix, distance_m, settings, boxes,
                                       next_key)
        if visit_events:
            events.extend(visit_events)
            # Only an arrival (or an exit) changes which order is next.
            next_key = _next_key(orders)

    newest = screened.fresh[-1]
    state = evolve(
        state,
        orders=tuple(orders),
        last_fix=newest,
        recent_fixes=(*state.recent_fixes, *screened.fresh)[-RECENT_FIXES:],
        battery_percent=battery,
        actuals=actuals,
        evaluated_at=now,
    )
    if not estimate:
        return state, events
    return _estimate(state, orders, events, open_before, newest, now=now, travel=travel,
                     settings=settings, eta_every_s=eta_every_s, eta_phase_s=eta_phase_s)


def _estimate(
    state: RouteTrackState,
    orders: list[OrderTrack],
    events: list[TrackEvent],
    open_before: set[str],
    newest: Fix,
    *,
    now: datetime,
    travel: TravelModel,
    settings: TrackingSettings,
    eta_every_s: float,
    eta_phase_s: float,
) -> tuple[RouteTrackState, list[TrackEvent]]:
    """Steps 4 and 5 of a batch: ETAs from the newest position, then risks, per open order."""
    eval_at = max(now, newest.recorded_at)
    etas: dict[str, StopEta] = {}
    if _etas_due(state, orders, eval_at, eta_every_s, eta_phase_s, visited=bool(events)):
        state = evolve(state, etas_evaluated_at=eval_at)
        try:
            etas = {
                e.order_key: e
                for e in estimate_remaining(newest.lonlat, eval_at, _eta_stops(orders), travel)
            }
        except TravelError:
            etas = {}
    next_key = _next_key(orders)

    def selected(track: OrderTrack) -> bool:
        return track.key in open_before and track.closed_at is None

    if not etas and not events and _risks_steady(state, orders, selected, next_key, eval_at,
                                                 now=now, settings=settings):
        return state, events
    # On the way to the next order: not while still on site at another (periodic ``eta``).
    on_site = any(t.open and t.visit.on_site for t in orders)

    def eta_step(track: OrderTrack) -> _Prepared:
        eta_events: list[TrackEvent] = []
        eta = etas.get(track.key)
        if eta is not None and track.awaiting_arrival:
            track, eta_events = _apply_eta(track, eta, eval_at, settings,
                                           heading=track.key == next_key and not on_site)
        moving_away = (
            rk.moving_away_risk(state.recent_fixes, track.order.geofence)
            if track.key == next_key
            else rk.GREEN
        )
        eta_bound = None if track.eta_at is None else max(track.eta_at, eval_at)
        return track, eta_events, eta_bound, moving_away

    state, events = _with_risks(state, events, eta_step, selected, now=now, settings=settings)
    return evolve(state, risks_steady_until=_steady_until(state, selected, eval_at)), events


# How far ahead risks are known to stay put when no order awaits an arrival with an ETA (an
# instant is stored, not "forever"; a batch after it evaluates them again, and sets a new one).
STEADY_HORIZON = timedelta(hours=1)


def _steady_until(state: RouteTrackState, selected: Callable[[OrderTrack], bool],
                  eval_at: datetime) -> datetime | None:
    """Until when the risks just evaluated at ``eval_at`` stay the same as long as no input
    but the clock changes: an order's delay risks are computed from ``max(ETA, eval_at)``
    until it is arrived at, which is its ETA until the ETA passes. None when an order's ETA
    has passed already (its delay grows with the clock: evaluate at every batch)."""
    until = eval_at + STEADY_HORIZON
    for track in state.orders:
        if selected(track) and track.eta_at is not None and not track.visit.has_arrived:
            if track.eta_at < eval_at:
                return None
            until = min(until, track.eta_at)
    return until


def _risks_steady(state: RouteTrackState, orders: Sequence[OrderTrack],
                  selected: Callable[[OrderTrack], bool], next_key: str | None,
                  eval_at: datetime, *, now: datetime, settings: TrackingSettings) -> bool:
    """Whether evaluating the risks of a batch with no new ETA and no visit would give every
    order the risks it has (and no event), so that the batch can pass them over.

    An order's risks are computed from its arrival or ``max(ETA, eval_at)``, its window and
    initial ETA, the route's offline and battery risks, and (the next order only) the
    recent fixes. Without a visit or a new ETA, only the last three and the clock can have
    changed since the last evaluation: the route's risks and the next order's moving-away
    risk are computed here (once each, rather than for every order), and the clock is
    within ``risks_steady_until``. Whatever else changes the orders' tracks (a new plan, a
    closed order, the periodic job's clock-driven evaluation) clears that instant.
    Evaluating every order's risks on every batch was most of a single fix's pipeline
    (twelve orders, each a dict of five risks built and compared).
    """
    until = state.risks_steady_until
    if until is None or eval_at > until:
        return False
    first = next((track for track in orders if selected(track)), None)
    if first is None:
        return True
    offline, battery = _route_risks(state, now, settings)
    if (first.risks.get(rk.IS_OFFLINE) != offline
            or first.risks.get(rk.IN_LOW_BATTERY) != battery):
        return False
    heading = next((track for track in orders if track.key == next_key), None)
    if heading is None or not selected(heading):
        return True
    moving_away = rk.moving_away_risk(state.recent_fixes, heading.order.geofence)
    return heading.risks.get(rk.MOVING_AWAY_FROM_DESTINATION) == moving_away


def eta_slot(at: datetime, every_s: float, phase_s: float) -> int:
    """The ETA slot an instant falls in: slots are ``every_s`` long and begin ``phase_s``
    after each multiple of ``every_s`` since the Unix epoch."""
    return math.floor((at.timestamp() - phase_s) / every_s)


def _etas_due(state: RouteTrackState, orders: Sequence[OrderTrack], at: datetime,
              every_s: float, phase_s: float, *, visited: bool) -> bool:
    """Whether this batch re-evaluates ETAs (see ``eta_every_s`` of :func:`process_fixes`)."""
    if every_s <= 0.0 or visited or state.etas_evaluated_at is None:
        return True
    if any(t.awaiting_arrival and t.eta_at is None for t in orders):
        return True
    return eta_slot(at, every_s, phase_s) > eta_slot(state.etas_evaluated_at, every_s, phase_s)


def check_offline(
    route_state: RouteTrackState, now: datetime, settings: TrackingSettings
) -> tuple[RouteTrackState, list[TrackEvent]]:
    """Re-evaluate time-driven risks without new fixes (the periodic job).

    Marks ``is_offline`` when the newest fix is older than ``offline_after_s``, and, for orders
    not yet arrived at, treats ``max(last ETA, now)`` as a lower bound of the ETA: that bound
    alone can raise the delay risks and fire ``delayed`` once ``now`` passes ``scheduled_at``.
    """
    now = require_aware(now, "now")

    def clock_step(track: OrderTrack) -> _Prepared:
        eta_bound: datetime | None = None
        delayed: list[TrackEvent] = []
        if track.awaiting_arrival:
            eta_bound = now if track.eta_at is None else max(track.eta_at, now)
            track, delayed = _maybe_delayed(track, eta_bound, now)
        moving_away = track.risks.get(rk.MOVING_AWAY_FROM_DESTINATION, rk.GREEN)
        return track, delayed, eta_bound, moving_away

    # Its delay bound for an order without an ETA is the clock, not the processor's none:
    # the next batch evaluates them all again.
    return _with_risks(evolve(route_state, evaluated_at=now, risks_steady_until=None), [],
                       clock_step, lambda track: track.open, now=now, settings=settings)


def replace_orders(route_state: RouteTrackState, orders: Sequence[TrackedOrder]) -> RouteTrackState:
    """Apply a new order list (re-sequenced, added, removed, edited), keeping progress by key."""
    keys = [o.order_key for o in orders]
    if len(set(keys)) != len(keys):
        raise ValueError("order keys must be unique within a route")
    existing = {t.key: t for t in route_state.orders}
    tracks = tuple(
        evolve(existing[o.order_key], order=o) if o.order_key in existing else OrderTrack(order=o)
        for o in orders
    )
    return evolve(route_state, orders=tracks, risks_steady_until=None)


def close_order(route_state: RouteTrackState, order_key: str, *, at: datetime) -> RouteTrackState:
    """Stop tracking one order (completed or cancelled at ``at``); later fixes ignore it."""
    at = require_aware(at, "at")
    tracks = tuple(
        evolve(t, closed_at=t.closed_at or at) if t.key == order_key else t
        for t in route_state.orders
    )
    if tracks == route_state.orders and all(t.key != order_key for t in tracks):
        raise KeyError(order_key)
    return evolve(route_state, orders=tracks, risks_steady_until=None)


def leg_distance_m(route_state: RouteTrackState, order_key: str) -> float | None:
    """Return the distance travelled to reach an order: from the previous exit (or start)."""
    track = route_state.order(order_key)
    arrival_m = track.distance_at_arrival_m
    if arrival_m is None:
        return None
    before = [
        t.distance_at_exit_m
        for t in route_state.orders
        if t.key != order_key
        and t.distance_at_exit_m is not None
        and t.distance_at_exit_m <= arrival_m
    ]
    return arrival_m - max(before, default=0.0)
