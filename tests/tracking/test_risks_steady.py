"""A batch that re-evaluates no ETA and finds no visit passes the orders' risks over when
nothing they are computed from changed (``pipeline._risks_steady``): the outcome is the same
as evaluating them, whatever the drive, the batches, the battery, the clock, plan edits and
the periodic job do."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import risks as rk
from routekeeper.tracking.engine.evolve import evolve
from routekeeper.tracking.engine.pipeline import (
    RouteTrackState,
    check_offline,
    process_fixes,
    replace_orders,
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
ETA_EVERY_S = 10.0


def _evaluated(state: RouteTrackState) -> RouteTrackState:
    """The same state with its risks due for evaluation at the next batch."""
    return evolve(state, risks_steady_until=None)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), late_rate=st.sampled_from([0.0, 0.05]),
       drain=st.floats(0.0, 0.2), delays=st.lists(st.sampled_from([2.0, 2.0, 2.0, 90.0, 900.0]),
                                                 min_size=1, max_size=8),
       edit_every=st.sampled_from([0, 7, 13]), job_every=st.sampled_from([0, 5, 11]))
def test_passing_the_risks_over_gives_what_evaluating_them_gives(
        seed: int, late_rate: float, drain: float, delays: list[float], edit_every: int,
        job_every: int) -> None:
    drive = three_stop_drive(seed % 50, interval_s=2.0)
    # A battery that runs down into the yellow and red, at a pace the example picks.
    fixes = [replace(fix, battery_percent=max(0.0, 40.0 - drain * index))
             for index, fix in enumerate(drive.fixes)]
    chunks = [as_processed(chunk) for chunk in deliver_in_chunks(
        fixes, seed, min_chunk=1, max_chunk=3, late_rate=late_rate)]
    travel = FakeTravel()
    state = RouteTrackState.start(drive.orders, started_at=T0)
    for index, chunk in enumerate(chunks):
        # The processor running behind now and then (offline risks, ETAs that have passed).
        now = upload_now(chunk, delays[index % len(delays)])
        if edit_every and index % edit_every == edit_every - 1:
            # An order's window moved: its delay risk has to follow at the next batch.
            plan = [replace(track.order, scheduled_at=(track.order.scheduled_at or T0)
                            - timedelta(minutes=20)) for track in state.orders]
            state = replace_orders(state, plan)
        if job_every and index % job_every == job_every - 1:
            state, _ = check_offline(state, now, SETTINGS)
        steady, steady_events = process_fixes(state, chunk, now=now, travel=travel,
                                              settings=SETTINGS, prescreened=True,
                                              eta_every_s=ETA_EVERY_S)
        full, full_events = process_fixes(_evaluated(state), chunk, now=now, travel=travel,
                                          settings=SETTINGS, prescreened=True,
                                          eta_every_s=ETA_EVERY_S)
        assert steady_events == full_events
        assert steady.orders == full.orders
        assert _evaluated(steady) == _evaluated(full)
        state = steady


def test_a_quiet_batch_passes_the_risks_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between ETA evaluations, a fix that changes nothing the risks are computed from does
    not evaluate each order's delay risks again."""
    drive = three_stop_drive(3, interval_s=2.0)
    travel = FakeTravel()
    state, _ = process_fixes(RouteTrackState.start(drive.orders, started_at=T0),
                             [drive.fixes[0]], now=upload_now([drive.fixes[0]]), travel=travel,
                             settings=SETTINGS, prescreened=True, eta_every_s=ETA_EVERY_S)
    assert state.risks_steady_until is not None
    calls: list[object] = []
    real = rk.delay_risk
    monkeypatch.setattr(rk, "delay_risk", lambda *args: calls.append(args) or real(*args))
    quiet = drive.fixes[1]
    assert (quiet.recorded_at - drive.fixes[0].recorded_at).total_seconds() < ETA_EVERY_S
    after, events = process_fixes(state, [quiet], now=upload_now([quiet]), travel=travel,
                                  settings=SETTINGS, prescreened=True, eta_every_s=ETA_EVERY_S)
    assert events == [] and calls == []
    assert after.last_fix == quiet and after.orders == state.orders
    # A new plan (or a closed order, or the periodic job) has them evaluated again.
    edited = replace_orders(after, [track.order for track in after.orders])
    assert edited.risks_steady_until is None
    process_fixes(edited, [drive.fixes[2]], now=upload_now([drive.fixes[2]]), travel=travel,
                  settings=SETTINGS, prescreened=True, eta_every_s=ETA_EVERY_S)
    assert len(calls) == len(state.orders)


def test_risks_stay_steady_until_the_first_eta_passes() -> None:
    """The instant is the earliest ETA of an order not arrived at; none once one has passed
    without a new ETA, since that order's delay then grows with the clock."""
    drive = three_stop_drive(5, interval_s=2.0)
    first = drive.fixes[0]
    state, _ = process_fixes(RouteTrackState.start(drive.orders, started_at=T0), [first],
                             now=upload_now([first]), travel=FakeTravel(), settings=SETTINGS,
                             prescreened=True)
    etas = [track.eta_at for track in state.orders if track.eta_at is not None]
    assert len(etas) == len(state.orders)
    assert state.risks_steady_until == min(etas)
    # The worker stands still past the first ETA, between two ETA evaluations.
    late_at = min(etas) + timedelta(seconds=1)
    standing = replace(first, recorded_at=late_at)
    later, _ = process_fixes(state, [standing], now=late_at, travel=FakeTravel(),
                             settings=SETTINGS, prescreened=True, eta_every_s=1e9)
    assert later.etas_evaluated_at == state.etas_evaluated_at
    assert later.risks_steady_until is None
    assert later.orders[0].risks[rk.DELAYED_FROM_INITIAL_ETA] == rk.GREEN
