"""ETAs are re-evaluated once in each of a route's slots (``pipeline.eta_slot``), the slots
of each route beginning at its own phase (``processor.eta_phase_s``): a route's ETAs stay
as fresh as before, and a fleet whose routes started together re-evaluates evenly over the
period instead of all at once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.models.route import Route
from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import pipeline as pl
from routekeeper.tracking.engine.pipeline import RouteTrackState, eta_slot, process_fixes
from routekeeper.tracking.processor import ETA_EVERY_S, eta_phase_s

from .simulate import T0, FakeTravel, three_stop_drive

SETTINGS = TrackingSettings()
_VISITS = (pl.ARRIVED, pl.EXITED)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), phase=st.floats(0.0, ETA_EVERY_S, exclude_max=True),
       waits=st.lists(st.floats(0.1, 4.0), min_size=20, max_size=20))
def test_a_route_reevaluates_its_etas_once_a_slot(seed: int, phase: float,
                                                  waits: list[float]) -> None:
    drive = three_stop_drive(seed % 50, interval_s=1.0)
    travel = FakeTravel()
    state = RouteTrackState.start(drive.orders, started_at=T0)
    now = T0
    evaluations = 0
    for index, fix in enumerate(drive.fixes[:240]):
        now = max(now, fix.recorded_at) + timedelta(seconds=waits[index % len(waits)])
        before = state
        state, events = process_fixes(before, [fix], now=now, travel=travel, settings=SETTINGS,
                                      eta_every_s=ETA_EVERY_S, eta_phase_s=phase)
        if state.last_fix == before.last_fix or before.etas_evaluated_at is None:
            continue  # no fresh fix, no evaluation; or the first evaluation
        eval_at = max(now, fix.recorded_at)
        later_slot = eta_slot(eval_at, ETA_EVERY_S, phase) > eta_slot(
            before.etas_evaluated_at, ETA_EVERY_S, phase)
        evaluated = state.etas_evaluated_at != before.etas_evaluated_at
        forced = (any(e.value in _VISITS for e in events)
                  or any(t.awaiting_arrival and t.eta_at is None for t in before.orders))
        # The first batch of a later slot re-evaluates (ETAs as fresh as a slot)...
        assert evaluated or not later_slot
        # ...and no other, but for an arrival or exit, or an order without an ETA.
        assert later_slot or forced or not evaluated
        evaluations += evaluated
    assert evaluations >= 10


def test_a_fleet_started_together_reevaluates_evenly() -> None:
    """300 routes started in the same second, fed a fix a second in step: each second of the
    period sees about a tenth of them re-evaluate, not all of them one second in ten."""
    routes = 300
    drive = three_stop_drive(3, interval_s=1.0)
    fixes = drive.fixes[:60]
    travel = FakeTravel()
    per_second: Counter[int] = Counter()
    for number in range(routes):
        phase = eta_phase_s(Route(route_handle=f"route-{number}"))
        state = RouteTrackState.start(drive.orders, started_at=T0)
        for fix in fixes:
            now = fix.recorded_at + timedelta(seconds=1)
            before = state.etas_evaluated_at
            state, events = process_fixes(state, [fix], now=now, travel=travel,
                                          settings=SETTINGS, eta_every_s=ETA_EVERY_S,
                                          eta_phase_s=phase)
            if state.etas_evaluated_at != before and not any(
                    e.value in _VISITS for e in events):
                per_second[int((now - T0).total_seconds())] += 1
    # After the first ETAs (every route's, at its first fix), a tenth of the fleet a second.
    steady = [per_second[second] for second in range(15, int(
        (fixes[-1].recorded_at - T0).total_seconds()))]
    mean = routes / ETA_EVERY_S
    assert sum(steady) / len(steady) == pytest.approx(mean, rel=0.15)
    assert max(steady) <= 2 * mean and min(steady) >= mean / 3
