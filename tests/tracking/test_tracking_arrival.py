"""Tests of the visit state machine: confirmation, dwell, hysteresis, late fixes."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.arrival import (
    VisitEventKind,
    VisitPhase,
    VisitState,
    run,
    step,
)
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence, Presence, inside_confidence

from .simulate import ORIGIN, at, offset

RADIUS_M = 50.0
BUFFER_M = 30.0
DWELL_S = 30.0
GEOFENCE = Geofence.circle(ORIGIN, RADIUS_M)


def fix(t: float, distance_m: float, accuracy_m: float | None = 5.0, bearing: float = 0.0) -> Fix:
    """Return a fix ``distance_m`` from the centre at ``t`` seconds."""
    lon, lat = offset(ORIGIN, distance_m * math.sin(bearing), distance_m * math.cos(bearing))
    return Fix(at(t), lon, lat, accuracy_m=accuracy_m)


def feed(fixes: list[Fix], require_dwell: bool = False) -> tuple[VisitState, list[VisitEventKind]]:
    """Run ``fixes`` through a fresh visit and return the state and the event kinds."""
    state, events = run(
        VisitState(),
        fixes,
        GEOFENCE,
        dwell_s=DWELL_S,
        exit_buffer_m=BUFFER_M,
        require_dwell=require_dwell,
    )
    return state, [e.kind for e in events]


def test_single_inside_fix_is_only_a_candidate() -> None:
    """One inside fix opens a candidate but does not arrive (Traccar's complaint)."""
    state, kinds = feed([fix(0, 500), fix(10, 10)])
    assert kinds == [] and state.phase is VisitPhase.CANDIDATE


def test_second_inside_fix_confirms_with_first_fix_time() -> None:
    """A second inside fix confirms; the arrival time is the first inside fix's recorded_at."""
    state, events = run(
        VisitState(),
        [fix(0, 500), fix(10, 20), fix(15, 5)],
        GEOFENCE,
        dwell_s=DWELL_S,
        exit_buffer_m=BUFFER_M,
    )
    assert [e.kind for e in events] == [VisitEventKind.ARRIVED]
    assert state.arrived_at == at(10) and events[0].recorded_at == at(10)
    assert events[0].confirmed_at == at(15) and events[0].accuracy_m == 5.0


def test_dwell_confirms_through_uncertain_fixes() -> None:
    """Indoors accuracy degrades; fixes that are not outside confirm once dwell_s has passed."""
    state, kinds = feed([fix(0, 10), fix(10, 10, 200), fix(25, 10, 200)])
    assert kinds == [] and state.phase is VisitPhase.CANDIDATE
    state, kinds = feed([fix(0, 10), fix(10, 10, 200), fix(31, 10, 200)])
    assert kinds == [VisitEventKind.ARRIVED] and state.arrived_at == at(0)


def test_drive_through_cancels_candidate() -> None:
    """An inside fix followed by an outside fix is a drive-by, not an arrival."""
    state, kinds = feed([fix(0, 10), fix(5, 200)])
    assert kinds == [] and state.phase is VisitPhase.APPROACHING and state.candidate is None


def test_require_dwell_ignores_quick_drive_through() -> None:
    """With require_dwell, two inside fixes seconds apart are not enough; dwelling is."""
    quick = [fix(0, 40), fix(3, 10), fix(6, 40), fix(9, 300)]
    assert feed(quick, require_dwell=True)[1] == []
    assert feed(quick)[1] == [VisitEventKind.ARRIVED]
    stay = [fix(0, 40), fix(10, 10), fix(31, 12)]
    assert feed(stay, require_dwell=True)[1] == [VisitEventKind.ARRIVED]


def test_exit_needs_buffer_and_confirmation() -> None:
    """Leaving needs two fixes beyond radius + buffer + accuracy; exited_at is the first."""
    arrive = [fix(0, 10), fix(5, 10)]
    state, kinds = feed([*arrive, fix(60, 70), fix(65, 75)])
    assert kinds == [VisitEventKind.ARRIVED] and state.on_site
    state, kinds = feed([*arrive, fix(60, 100)])
    assert state.phase is VisitPhase.EXIT_CANDIDATE and kinds == [VisitEventKind.ARRIVED]
    state, kinds = feed([*arrive, fix(60, 100), fix(61, 10)])
    assert state.phase is VisitPhase.ARRIVED
    state, kinds = feed([*arrive, fix(60, 100), fix(65, 150)])
    assert kinds == [VisitEventKind.ARRIVED, VisitEventKind.EXITED]
    assert state.exited_at == at(60) and state.actual_service_time_s == 60.0


def test_exited_is_terminal() -> None:
    """After the exit nothing more happens, even coming back inside."""
    fixes = [fix(0, 10), fix(5, 10), fix(60, 100), fix(65, 150), fix(100, 5), fix(110, 5)]
    state, kinds = feed(fixes)
    assert kinds == [VisitEventKind.ARRIVED, VisitEventKind.EXITED]
    assert state.phase is VisitPhase.EXITED


def test_late_fix_is_ignored() -> None:
    """A fix older than the last one seen never flips an arrival back, nor is a duplicate used."""
    state, _ = feed([fix(0, 10), fix(5, 10)])
    for late in (fix(4, 500), fix(5, 500), fix(-100, 10)):
        again, events = step(state, late, GEOFENCE, dwell_s=DWELL_S, exit_buffer_m=BUFFER_M)
        assert again == state and events == []


def test_round_trip() -> None:
    """Visit states survive the state codec in every phase."""
    fixes = [fix(0, 500), fix(10, 20), fix(15, 5), fix(60, 100), fix(65, 150)]
    state = VisitState()
    for f in fixes:
        state, _ = step(state, f, GEOFENCE, dwell_s=DWELL_S, exit_buffer_m=BUFFER_M)
        assert codec.load(VisitState, codec.dump(state)) == state


samples = st.lists(
    st.tuples(
        st.floats(1, 120),  # seconds since the previous fix
        st.floats(0, 400),  # distance from the centre
        st.one_of(st.none(), st.floats(1, 150)),  # accuracy
        st.floats(0, 2 * math.pi),  # bearing
    ),
    max_size=60,
)


def build(track: list[tuple[float, float, float | None, float]]) -> list[Fix]:
    """Turn generated samples into fixes at increasing times."""
    t = 0.0
    out = []
    for dt, distance, accuracy, bearing in track:
        t += dt
        out.append(fix(t, distance, accuracy, bearing))
    return out


@settings(max_examples=300, deadline=None)
@given(samples, st.booleans())
def test_any_track_arrives_once_then_exits_once(
    track: list[tuple[float, float, float | None, float]], require_dwell: bool
) -> None:
    """On any track, arrive and exit alternate: no event, one arrival, or arrival then exit."""
    fixes = build(track)
    state, events = run(
        VisitState(),
        fixes,
        GEOFENCE,
        dwell_s=DWELL_S,
        exit_buffer_m=BUFFER_M,
        require_dwell=require_dwell,
    )
    kinds = [e.kind for e in events]
    assert kinds in ([], [VisitEventKind.ARRIVED], [VisitEventKind.ARRIVED, VisitEventKind.EXITED])
    times = {f.recorded_at: f for f in fixes}
    for event in events:
        assert event.recorded_at in times and event.recorded_at <= event.confirmed_at
    if events:
        first = times[events[0].recorded_at]
        assert inside_confidence(GEOFENCE, first, exit_buffer_m=BUFFER_M) is Presence.INSIDE
        assert state.arrived_at == events[0].recorded_at
    if len(events) == 2:
        leaving = times[events[1].recorded_at]
        assert inside_confidence(GEOFENCE, leaving, exit_buffer_m=BUFFER_M) is Presence.OUTSIDE
        assert state.exited_at is not None and state.arrived_at is not None
        assert state.exited_at > state.arrived_at


@settings(max_examples=200, deadline=None)
@given(samples, st.lists(st.integers(0, 59), max_size=20), st.floats(-200, 0))
def test_late_fixes_change_nothing(
    track: list[tuple[float, float, float | None, float]], positions: list[int], back_s: float
) -> None:
    """Inserting fixes older than the visit's last fix gives the same result as leaving them out."""
    fixes = build(track)
    mixed = list(fixes)
    for p in positions:
        if p < len(mixed):
            older = mixed[p].recorded_at.timestamp() - at(0).timestamp() + back_s
            mixed.insert(p + 1, fix(older, 0.0, 3.0))
    state = VisitState()
    events = []
    for f in mixed:
        state, new = step(state, f, GEOFENCE, dwell_s=DWELL_S, exit_buffer_m=BUFFER_M)
        events.extend(new)
    clean_state, clean_events = run(
        VisitState(), fixes, GEOFENCE, dwell_s=DWELL_S, exit_buffer_m=BUFFER_M
    )
    assert state == clean_state and events == clean_events


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(1, 30), st.floats(RADIUS_M - 15, RADIUS_M + 15), st.floats(1, 10)),
        min_size=1,
        max_size=200,
    )
)
def test_boundary_jitter_never_repeats_or_exits(track: list[tuple[float, float, float]]) -> None:
    """Jitter around the radius (within the exit buffer) yields at most one arrival, no exit."""
    fixes = []
    t = 0.0
    for i, (dt, distance, accuracy) in enumerate(track):
        t += dt
        fixes.append(fix(t, distance, accuracy, bearing=i * 0.7))
    state, kinds = feed(fixes)
    assert kinds in ([], [VisitEventKind.ARRIVED])
    assert state.phase is not VisitPhase.EXITED
