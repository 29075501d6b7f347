"""Simulated drives through the whole pipeline: noisy, gappy, duplicated, shuffled uploads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise

import pytest

from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.pipeline import RouteTrackState, TrackEvent, process_fixes

from .simulate import (
    T0,
    FakeTravel,
    SimulatedDrive,
    deliver_in_chunks,
    three_stop_drive,
    upload_now,
)

SETTINGS = TrackingSettings()


@dataclass
class Run:
    """The outcome of feeding a simulated drive through the pipeline batch by batch."""

    drive: SimulatedDrive
    state: RouteTrackState
    events: list[TrackEvent] = field(default_factory=list)
    states: list[RouteTrackState] = field(default_factory=list)
    travel: FakeTravel = field(default_factory=FakeTravel)
    batches_with_fresh: int = 0
    batches_with_etas: int = 0

    def of(self, value: str, order_key: str | None = None) -> list[TrackEvent]:
        """Return the events with this webhook value (for one order if given)."""
        return [
            e
            for e in self.events
            if e.value == value and (order_key is None or e.order_key == order_key)
        ]


def run_drive(seed: int, *, late_rate: float = 0.02, single_batch: bool = False) -> Run:
    """Simulate a drive and process its uploads, storing the state as JSON between batches."""
    drive = three_stop_drive(seed)
    state = RouteTrackState.start(drive.orders, started_at=T0)
    run = Run(drive, state)
    if single_batch:
        chunks = [list(drive.fixes)]
    else:
        chunks = deliver_in_chunks(
            drive.fixes, seed + 100, min_chunk=2, max_chunk=12, late_rate=late_rate
        )
    for chunk in chunks:
        accepted_before = state.fixes_accepted
        state, events = process_fixes(
            state, chunk, now=upload_now(chunk), travel=run.travel, settings=SETTINGS
        )
        stored = json.loads(json.dumps(codec.dump(state)))
        assert codec.load(RouteTrackState, stored) == state
        state = codec.load(RouteTrackState, stored)
        fresh = state.fixes_accepted > accepted_before
        run.batches_with_fresh += fresh
        run.batches_with_etas += fresh and any(t.open for t in state.orders)
        run.events.extend(events)
        run.states.append(state)
    run.state = state
    return run


SEEDS = [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("seed", SEEDS)
def test_each_stop_arrived_and_exited_once_at_plausible_times(seed: int) -> None:
    """Every stop is arrived at and exited exactly once, near the true times."""
    run = run_drive(seed)
    for key, truth in run.drive.truth.items():
        arrived, exited = run.of("arrived", key), run.of("exited", key)
        assert len(arrived) == 1 and len(exited) == 1, key
        arrived_s = (arrived[0].at - T0).total_seconds()
        exited_s = (exited[0].at - T0).total_seconds()
        assert truth.entered_radius_s - 10 <= arrived_s <= truth.reached_s + 20, key
        assert truth.left_s - 30 <= exited_s <= truth.left_s + 60, key
        visit = run.state.order(key).visit
        assert visit.arrived_at == arrived[0].at and visit.exited_at == exited[0].at
        service_s = visit.actual_service_time_s
        assert service_s is not None
        assert abs(service_s - (truth.left_s - truth.reached_s)) < 60
        assert exited[0].data["actual_service_time_s"] == round(service_s)
    values = [e.value for e in run.events if e.value in ("arrived", "exited")]
    assert values == ["arrived", "exited"] * 3


@pytest.mark.parametrize("seed", SEEDS)
def test_chunked_shuffled_delivery_matches_single_batch(seed: int) -> None:
    """Shuffled uploads (sorted per batch, state carried over) detect the same visits."""
    chunked = run_drive(seed, late_rate=0.0)
    whole = run_drive(seed, single_batch=True)
    for key in chunked.drive.truth:
        a, b = chunked.state.order(key).visit, whole.state.order(key).visit
        assert (a.arrived_at, a.exited_at) == (b.arrived_at, b.exited_at)
    assert chunked.state.actuals.distance_m == pytest.approx(whole.state.actuals.distance_m)


def test_etas_fall_as_the_worker_approaches() -> None:
    """A's remaining duration shrinks batch after batch while the worker drives to it."""
    run = run_drive(1)
    remaining = [
        s.order("A").remaining_duration_s
        for s in run.states
        if s.order("A").awaiting_arrival and s.order("A").remaining_duration_s is not None
    ]
    assert len(remaining) > 10
    assert all(b <= a + 15 for a, b in pairwise(remaining))
    assert remaining[-1] < remaining[0] - 250
    first = run.of("first_eta", "A")
    assert len(first) == 1 and first[0].at < run.of("arrived", "A")[0].at


@pytest.mark.parametrize("seed", SEEDS)
def test_delay_risk_rises_and_clears(seed: int) -> None:
    """The jam before B pushes its ETA past scheduled_at (red), fast driving clears it."""
    run = run_drive(seed)
    labels = [
        e.data["risks"]["delayed_from_scheduled_at"]["intensity_label"]
        for e in run.of("risk_updated", "B")
        if "delayed_from_scheduled_at" in e.data["risks"]
    ]
    assert "red" in labels and labels[-1] == "green"
    assert labels.index("red") < len(labels) - 1
    assert len(run.of("delayed", "B")) == 1
    assert run.of("delayed", "A") == [] and run.of("delayed", "C") == []
    final = run.state.order("B").risks["delayed_from_scheduled_at"]
    assert final.label.value == "green"


@pytest.mark.parametrize("seed", SEEDS)
def test_one_shot_events_fire_at_most_once(seed: int) -> None:
    """first_eta, n_minutes_away and delayed fire at most once per order, before arrival."""
    run = run_drive(seed)
    for key in run.drive.truth:
        arrived_at = run.of("arrived", key)[0].at
        for value in ("first_eta", "n_minutes_away", "delayed"):
            events = run.of(value, key)
            assert len(events) <= 1, (key, value)
            assert all(e.at <= arrived_at + timedelta(seconds=60) for e in events)
        assert len(run.of("first_eta", key)) == 1
    assert len(run.of("n_minutes_away", "A")) == 1 and len(run.of("n_minutes_away", "C")) == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_actuals_and_bookkeeping(seed: int) -> None:
    """Distance is close to the true path, gaps lower tracking_rate, one matrix call a batch."""
    run = run_drive(seed)
    actuals = run.state.actuals
    assert actuals.distance_m == pytest.approx(run.drive.trajectory.length_m(), rel=0.08)
    assert 0.85 < actuals.tracking_rate() < 0.97
    assert run.travel.matrix_calls == run.batches_with_etas and run.travel.leg_calls == 0
    assert run.batches_with_etas < run.batches_with_fresh  # nothing left to estimate at the end
    assert run.state.fixes_duplicate > 0 and run.state.fixes_rejected == 0
    assert run.state.fixes_accepted + run.state.fixes_late <= len(run.drive.fixes)
    for event in run.events:
        json.dumps(event.to_dict())


def test_eta_change_is_throttled() -> None:
    """ETA changes are reported only when they exceed the threshold, not every batch."""
    run = run_drive(1)
    changes = run.of("eta_change")
    assert 0 < len(changes) < run.batches_with_fresh
    for event in changes:
        new = event.data["eta_at"]
        assert new != event.data["previous_eta_at"]
