"""A route's tail (the batches run since its state's checkpoint) replayed: the visits, actuals
and visit events of the run that wrote it, whatever batches the drive came in and wherever the
checkpoint fell."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.models.route import Route
from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import pipeline as pl
from routekeeper.tracking.engine.pipeline import RouteTrackState, process_fixes
from routekeeper.tracking.routestate import (
    TAIL_BATCHES,
    TAIL_FIXES,
    TAIL_SECONDS,
    StoredState,
    append_tail,
    load,
    store,
    tail_due,
    tail_length,
)

from .simulate import (
    T0,
    FakeTravel,
    as_processed,
    deliver_in_chunks,
    three_stop_drive,
    upload_now,
)

SETTINGS = TrackingSettings()
_VISITS = (pl.ARRIVED, pl.EXITED)



@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.floats(0.0, 1.0), length=st.integers(1, 60),
       late_rate=st.sampled_from([0.0, 0.05]))
def test_a_replayed_tail_has_the_visits_and_actuals_of_the_run(
        seed: int, cut: float, length: int, late_rate: float) -> None:
    drive = three_stop_drive(seed % 50)
    chunks = [as_processed(chunk) for chunk in deliver_in_chunks(
        drive.fixes, seed, min_chunk=1, max_chunk=8, late_rate=late_rate)]
    travel = FakeTravel()
    route = Route(account_id="acct", route_handle="route", status="tracking")
    state = RouteTrackState.start(drive.orders, started_at=T0)
    first = min(int(cut * len(chunks)), len(chunks) - 1)
    tail = chunks[first:first + length]
    for chunk in chunks[:first]:
        state, _ = process_fixes(state, chunk, now=upload_now(chunk), travel=travel,
                                 settings=SETTINGS, prescreened=True, eta_every_s=10.0)
    store(route, StoredState(pipeline=state, devices=["phone"]))
    visit_events: list[tuple[str, str, object]] = []
    for chunk in tail:
        now = upload_now(chunk)
        state, events = process_fixes(state, chunk, now=now, travel=travel, settings=SETTINGS,
                                      prescreened=True, eta_every_s=10.0)
        visit_events += [(e.value, e.order_key, e.at) for e in events if e.value in _VISITS]
        append_tail(route, chunk, now)
    assert tail_length(route) == len(tail)

    replayed = load(route, [], now=T0, settings=SETTINGS).pipeline
    assert [t.visit for t in replayed.orders] == [t.visit for t in state.orders]
    assert replayed.actuals == state.actuals
    assert (replayed.last_fix, replayed.recent_fixes, replayed.battery_percent) == \
        (state.last_fix, state.recent_fixes, state.battery_percent)
    assert (replayed.fixes_accepted, replayed.fixes_late, replayed.fixes_duplicate) == \
        (state.fixes_accepted, state.fixes_late, state.fixes_duplicate)
    # The same visit events, found again by the batches alone (the tail holds only batches
    # without any, so a replay finds none there).
    again: list[tuple[str, str, object]] = []
    checkpoint = load(Route(account_id="acct", route_handle="route", status="tracking",
                            track_state=route.track_state), [], now=T0,
                      settings=SETTINGS).pipeline
    for chunk in tail:
        checkpoint, events = process_fixes(checkpoint, chunk, now=upload_now(chunk),
                                           travel=travel, settings=SETTINGS,
                                           prescreened=True, estimate=False)
        again += [(e.value, e.order_key, e.at) for e in events]
    assert again == visit_events


def test_a_tail_is_due_for_a_checkpoint_by_its_length_its_fixes_or_its_age() -> None:
    route = Route(account_id="acct", route_handle="route", status="tracking")
    store(route, StoredState(pipeline=RouteTrackState.start([], started_at=T0)))
    assert not tail_due(route, T0)
    fix = pl.Fix(lat=60.17, lon=24.94, recorded_at=T0)
    append_tail(route, [fix], T0)
    assert not tail_due(route, T0 + timedelta(seconds=TAIL_SECONDS - 1))
    assert tail_due(route, T0 + timedelta(seconds=TAIL_SECONDS))
    for _ in range(TAIL_BATCHES - 1):
        append_tail(route, [fix], T0)
    assert tail_due(route, T0)
    # Writing the state is a checkpoint: the tail is gone.
    store(route, load(route, [], now=T0, settings=SETTINGS))
    assert tail_length(route) == 0 and not tail_due(route, T0)
    # By its fixes: a batch that would take the tail past TAIL_FIXES checkpoints instead.
    assert tail_due(route, T0, adding=TAIL_FIXES + 1)
    assert not tail_due(route, T0, adding=TAIL_FIXES)
    append_tail(route, [fix] * (TAIL_FIXES - 10), T0)
    assert not tail_due(route, T0, adding=10)
    assert tail_due(route, T0, adding=11)
