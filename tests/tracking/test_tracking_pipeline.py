"""Tests of the pipeline's screening, events, periodic check and state handling."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import (
    RouteTrackState,
    TrackedOrder,
    TrackEvent,
    check_offline,
    close_order,
    eta_change_threshold_s,
    leg_distance_m,
    process_fixes,
    replace_orders,
    screen_fixes,
)
from routekeeper.travel.base import LonLat, TravelError, TravelMatrix

from .simulate import ORIGIN, T0, FakeTravel, at, offset

SETTINGS = TrackingSettings()
A_POS = offset(ORIGIN, 1000, 0)
B_POS = offset(ORIGIN, 2000, 0)


def order(key: str, where: LonLat, **kw: object) -> TrackedOrder:
    """Return an order with a 50 m circle at ``where``."""
    return TrackedOrder(key, Geofence.circle(where, 50), **kw)  # type: ignore[arg-type]


def route(*orders: TrackedOrder) -> RouteTrackState:
    """Start tracking the orders at T0 (A then B by default)."""
    chosen = orders or (order("A", A_POS), order("B", B_POS))
    return RouteTrackState.start(chosen, started_at=T0)


def fix_east(t: float, east_m: float, **kw: object) -> Fix:
    """Return a fix ``east_m`` east of ORIGIN at ``t`` seconds, 5 m accuracy by default."""
    lon, lat = offset(ORIGIN, east_m, 0)
    fields: dict[str, object] = {"accuracy_m": 5.0}
    fields.update(kw)
    return Fix(at(t), lon, lat, **fields)  # type: ignore[arg-type]


def feed(
    state: RouteTrackState,
    fixes: Sequence[Fix],
    now: datetime | None = None,
    travel: object | None = None,
) -> tuple[RouteTrackState, list[TrackEvent]]:
    """Process one batch with default settings; `now` defaults to just after the newest fix."""
    when = now or (max(f.recorded_at for f in fixes) + timedelta(seconds=1))
    model = travel if travel is not None else FakeTravel(speed_mps=10)
    return process_fixes(state, fixes, now=when, travel=model, settings=SETTINGS)  # type: ignore[arg-type]


def values(events: Sequence[TrackEvent], key: str | None = None) -> list[str]:
    """Return the event values (for one order if given)."""
    return [e.value for e in events if key is None or e.order_key == key]


def test_screening_sorts_dedupes_and_rejects() -> None:
    """A batch is sorted, one fix per instant (the most accurate) kept, bad fixes explained."""
    state = route()
    far = offset(ORIGIN, 50_000, 0)
    batch = [
        fix_east(20, 200),
        fix_east(10, 100, accuracy_m=30.0),
        fix_east(10, 101, accuracy_m=4.0),
        Fix(at(21), far[0], far[1], accuracy_m=5.0),
        fix_east(-5, 0),
        fix_east(10_000, 0),
        Fix(at(30), 0.0, 0.0),
    ]
    screened = screen_fixes(state, batch, now=at(100), settings=SETTINGS)
    assert [f.recorded_at for f in screened.fresh] == [at(10), at(20)]
    assert screened.fresh[0].accuracy_m == 4.0 and screened.duplicates == 1
    reasons = sorted(reason for _, reason in screened.rejected)
    assert reasons[0].startswith("implied speed of")
    assert reasons[1:] == [
        "impossible coordinates (0, 0)",
        "recorded_at is before tracking started",
        "recorded_at is in the future",
    ]


def test_late_and_duplicate_fixes_across_batches() -> None:
    """A fix not newer than the last processed one is late (or a duplicate at the same instant)."""
    state, _ = feed(route(), [fix_east(0, 0), fix_east(100, 500)])
    screened = screen_fixes(
        state,
        [fix_east(100, 500), fix_east(50, 250), fix_east(110, 560)],
        now=at(120),
        settings=SETTINGS,
    )
    assert [f.recorded_at for f in screened.late] == [at(50)]
    assert [f.recorded_at for f in screened.fresh] == [at(110)]
    assert screened.duplicates == 1


def test_late_fix_never_flips_an_arrival() -> None:
    """After an arrival, an older fix far away produces no event and leaves the visit alone."""
    state, events = feed(route(), [fix_east(0, 0), fix_east(90, 990), fix_east(95, 1000)])
    assert values(events, "A").count("arrived") == 1
    visit = state.order("A").visit
    state, events = feed(state, [fix_east(60, 300), fix_east(61, 310)], now=at(200))
    assert events == [] and state.order("A").visit == visit and state.fixes_late == 2


def test_arrival_event_payload() -> None:
    """The arrival carries the first inside fix's time, location and accuracy."""
    _, events = feed(route(), [fix_east(0, 0), fix_east(90, 990), fix_east(95, 1000)])
    arrived = next(e for e in events if e.value == "arrived")
    assert arrived.at == at(90) and arrived.data["recorded_at"] == "2024-05-06T08:01:30.000Z"
    assert arrived.data["confirmed_at"] == "2024-05-06T08:01:35.000Z"
    lon, lat = offset(ORIGIN, 990, 0)
    assert arrived.data["location"] == {"type": "Point", "coordinates": [lon, lat]}
    assert arrived.data["accuracy_m"] == 5.0
    json.dumps(arrived.to_dict())


def test_first_eta_then_throttled_eta_change() -> None:
    """The first ETA is announced once; small moves are silent, a big slip is an eta_change."""
    state, events = feed(route(), [fix_east(0, -3000)])
    assert values(events, "A") == ["first_eta"] and values(events, "B") == ["first_eta"]
    first = state.order("A").initial_eta_at
    assert first == at(1) + timedelta(seconds=400)
    state, events = feed(state, [fix_east(60, -3000)])  # a minute standing still: +60 s
    assert "eta_change" not in values(events)
    state, events = feed(state, [fix_east(180, -3000)])  # three minutes: +180 s > 120 s
    change = next(e for e in events if e.value == "eta_change" and e.order_key == "A")
    assert change.data["previous_eta_at"] == "2024-05-06T08:06:41.000Z"
    assert change.data["eta_at"] == "2024-05-06T08:09:41.000Z"
    assert state.order("A").initial_eta_at == first
    assert eta_change_threshold_s(3600) == 360 and eta_change_threshold_s(60) == 120


@pytest.mark.parametrize("interval_s", [0.0, 30.0, 90.0])
def test_periodic_eta_of_the_next_order_at_the_configured_interval(interval_s: float) -> None:
    """``eta`` goes to the next order only, never sooner than ``eta_interval_s`` after the
    last one (or its ``first_eta``); an interval of 0 sends none."""
    tracking = TrackingSettings(eta_interval_s=interval_s)
    state = route()
    sent: list[TrackEvent] = []
    for t in range(0, 600, 15):
        fix = fix_east(t, -3000 + t)
        state, events = process_fixes(state, [fix], now=fix.recorded_at + timedelta(seconds=1),
                                      travel=FakeTravel(speed_mps=10), settings=tracking)
        sent += [e for e in events if e.value == "eta"]
    assert all(e.order_key == "A" for e in sent)
    if interval_s == 0:
        assert sent == []
        return
    times = [at(1)] + [e.at for e in sent]  # the first_eta, then the periodic ones
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert gaps and all(interval_s <= gap < interval_s + 15 for gap in gaps)
    assert all(e.data["remaining_duration_s"] > 0 for e in sent)


def test_n_minutes_away_once() -> None:
    """n_minutes_away fires the first time the ETA is within n minutes, and only then."""
    state, events = feed(route(), [fix_east(0, -3000)])
    assert "n_minutes_away" not in values(events)
    state, events = feed(state, [fix_east(60, 0)])
    away = [e for e in events if e.value == "n_minutes_away" and e.order_key == "A"]
    assert len(away) == 1
    assert away[0].data["n_minutes"] == 5 and away[0].data["remaining_duration_s"] == 100
    state, events = feed(state, [fix_east(70, 100)])
    assert "n_minutes_away" not in values(events, "A")


def test_delayed_once_and_risk_updated() -> None:
    """When the ETA passes scheduled_at: one delayed event and a red delay risk."""
    state = route(order("A", A_POS, scheduled_at=at(100)))
    state, events = feed(state, [fix_east(0, -5000)])
    assert values(events) == ["first_eta", "delayed", "risk_updated"]
    risk = events[2].data["risks"]["delayed_from_scheduled_at"]
    assert risk["intensity_label"] == "red" and risk["previous_intensity_label"] == "green"
    assert risk["intensity_value"] == pytest.approx(501 / 1800, abs=1e-3)
    assert events[2].data["risk_status"] is True
    state, events = feed(state, [fix_east(30, -4900)])
    assert "delayed" not in values(events) and "risk_updated" not in values(events)


def test_check_offline_and_back_online() -> None:
    """The periodic check marks open orders offline; the next fix clears it."""
    state, _ = feed(route(), [fix_east(0, -5000)])
    _, events = check_offline(state, at(500), SETTINGS)
    assert events == []
    state, events = check_offline(state, at(700), SETTINGS)
    assert sorted(values(events)) == ["risk_updated", "risk_updated"]
    assert events[0].data["risks"]["is_offline"]["intensity_label"] == "red"
    state, events = check_offline(state, at(800), SETTINGS)
    assert events == []
    state, events = feed(state, [fix_east(810, 0)])
    cleared = [e for e in events if e.value == "risk_updated" and "is_offline" in e.data["risks"]]
    assert len(cleared) == 2
    assert cleared[0].data["risks"]["is_offline"]["previous_intensity_label"] == "red"


def test_check_offline_without_any_fix_and_clock_delay() -> None:
    """With no fix at all, time alone makes the route offline and a passed scheduled_at delayed."""
    state = route(order("A", A_POS, scheduled_at=at(300)))
    state, events = check_offline(state, at(200), SETTINGS)
    assert events == []
    state, events = check_offline(state, at(400), SETTINGS)
    assert values(events) == ["delayed", "risk_updated"]
    assert events[0].data["delay_s"] == 100
    assert events[1].data["risks"]["delayed_from_scheduled_at"]["intensity_label"] == "yellow"
    state, events = check_offline(state, at(700), SETTINGS)
    assert values(events) == ["risk_updated"]
    assert set(events[0].data["risks"]) == {"is_offline", "delayed_from_scheduled_at"}


def test_exited_and_closed_orders_get_no_more_events() -> None:
    """Once exited or closed, an order is left alone by fixes and the periodic check."""
    track = [fix_east(0, 990), fix_east(5, 1000), fix_east(60, 1200), fix_east(65, 1300)]
    state, events = feed(route(), track)
    assert values(events, "A") == ["arrived", "exited"]
    state = close_order(state, "B", at=at(66))
    state, events = check_offline(state, at(5000), SETTINGS)
    assert events == []
    state, events = feed(state, [fix_east(5001, 2000), fix_east(5010, 2000)])
    assert events == []
    with pytest.raises(KeyError):
        close_order(state, "nope", at=at(0))


def test_drive_past_a_later_order_is_not_a_visit() -> None:
    """Driving through B's geofence on the way to A is ignored; B needs a dwell when not next."""
    a_behind_b = route(order("A", offset(ORIGIN, 3000, 0)), order("B", A_POS))
    track = [fix_east(t, t * 10.0) for t in range(0, 200, 2)]
    state, events = feed(a_behind_b, track)
    assert "arrived" not in values(events)
    dwell = [fix_east(t, 1000) for t in range(200, 260, 10)]
    state, events = feed(state, dwell)
    assert values(events, "B")[0] == "arrived"


def test_travel_failure_keeps_visits_going() -> None:
    """A failing travel model skips ETAs but arrivals are still detected."""

    class Broken:
        """A travel model that always fails."""

        def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
            """Fail."""
            raise TravelError("down")

    state, events = feed(route(), [fix_east(0, 990), fix_east(5, 1000)], travel=Broken())
    assert values(events, "A") == ["arrived"]
    assert state.order("B").eta_at is None


def test_battery_and_moving_away_risks() -> None:
    """A low battery turns every open order red; receding from the next stop only flags it."""
    state, _ = feed(route(), [fix_east(0, 0, battery_percent=50.0)])
    state, events = feed(state, [fix_east(10, 0, battery_percent=10.0)])
    assert len([e for e in events if "in_low_battery" in e.data.get("risks", {})]) == 2
    away = [fix_east(20 + 10 * i, -150.0 * (i + 1)) for i in range(4)]
    state, events = feed(state, away)
    flagged = [
        e.order_key for e in events if "moving_away_from_destination" in e.data.get("risks", {})
    ]
    assert flagged == ["A"]


def test_leg_distance_and_replace_orders() -> None:
    """Per-order leg distance runs from the previous exit; re-planning keeps progress by key."""
    track = [fix_east(t, t * 10.0, speed_mps=10.0) for t in range(0, 101, 5)]
    track += [fix_east(t, 1000.0, speed_mps=0.0) for t in range(105, 200, 5)]
    track += [fix_east(t, 1000.0 + (t - 200) * 10.0, speed_mps=10.0) for t in range(200, 305, 5)]
    state, _ = feed(route(), track)
    to_a = leg_distance_m(state, "A")
    to_b = leg_distance_m(state, "B")
    assert to_a is not None and to_b is not None
    assert to_a == pytest.approx(950, abs=60) and to_b == pytest.approx(1000 - 130, abs=80)
    replanned = replace_orders(state, [order("B", B_POS), order("C", ORIGIN)])
    assert [t.key for t in replanned.orders] == ["B", "C"]
    assert replanned.order("B").visit == state.order("B").visit
    with pytest.raises(ValueError, match="unique"):
        replace_orders(state, [order("B", B_POS), order("B", B_POS)])


def test_state_round_trip_and_version() -> None:
    """The state is JSON-safe and refuses an unknown version."""
    state, _ = feed(route(), [fix_east(0, 990, battery_percent=40.0), fix_east(5, 1000)])
    data = json.loads(json.dumps(codec.dump(state)))
    assert codec.load(RouteTrackState, data) == state
    with pytest.raises(ValueError, match="version"):
        codec.load(RouteTrackState, {**data, "version": 99})
    with pytest.raises(ValueError, match="unique"):
        RouteTrackState.start([order("A", A_POS), order("A", B_POS)], started_at=T0)


walk = st.lists(
    st.tuples(
        st.floats(1, 90),  # seconds since the previous fix
        st.floats(-400, 2400),  # east of ORIGIN: A at 1000 m, B at 2000 m
        st.floats(-80, 80),  # north
        st.one_of(st.none(), st.floats(2, 120)),  # accuracy
    ),
    max_size=50,
)


@settings(max_examples=80, deadline=None)
@given(walk, st.lists(st.integers(1, 8), min_size=1, max_size=20), st.randoms())
def test_any_batched_track_keeps_visit_events_in_order(
    samples: list[tuple[float, float, float, float | None]],
    cuts: list[int],
    rnd: object,
) -> None:
    """However a track is batched and shuffled, each order gets [], [arrived] or arrived, exited."""
    fixes = []
    t = 0.0
    for dt, east, north, accuracy in samples:
        t += dt
        lon, lat = offset(ORIGIN, east, north)
        fixes.append(Fix(at(t), lon, lat, accuracy_m=accuracy))
    state = route()
    collected: list[TrackEvent] = []
    i = 0
    k = 0
    while i < len(fixes):
        size = cuts[k % len(cuts)]
        chunk = fixes[i : i + size]
        rnd.shuffle(chunk)  # type: ignore[attr-defined]
        i += size
        k += 1
        state, events = feed(state, chunk, now=at(t + 1))
        collected.extend(events)
    for key in ("A", "B"):
        visit_values = [v for v in values(collected, key) if v in ("arrived", "exited")]
        assert visit_values in ([], ["arrived"], ["arrived", "exited"])
        for value in ("first_eta", "n_minutes_away", "delayed"):
            assert values(collected, key).count(value) <= 1
    assert math.isfinite(state.actuals.distance_m)
