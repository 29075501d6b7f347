"""Fixtures of the tracking API tests: a controllable tracking clock and the simulation's
travel model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from routekeeper.tracking import clock

from .api_helpers import TrackClock
from .simulate import FakeTravel


@pytest.fixture
def track_clock(monkeypatch: pytest.MonkeyPatch) -> TrackClock:
    """The tracking clock, set by the test (starts at the real time)."""
    fake = TrackClock()
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture
def travel(app: Any) -> Iterator[FakeTravel]:
    """The simulation's travel model (straight lines at 5 m/s) in the app, for one test."""
    # Saved and restored by hand: monkeypatch cannot restore attributes of Starlette's State.
    previous = app.state.travel
    fake = FakeTravel(5.0)
    app.state.travel = fake
    yield fake
    app.state.travel = previous
