"""The tracking state's one (de)serialiser (``tracking.engine.codec``) reads what the routes of
an earlier release have stored and writes it back the same."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.arrival import VisitPhase
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.risks import RiskLabel
from routekeeper.tracking.routestate import StoredState

# A route's ``track_state`` as the hand-written to_dict methods wrote it (one order, three
# fixes), before the codec replaced them.
STORED = Path(__file__).with_name("stored_state_v1.json")
# Fields added to the state since that release, with what a state without them loads as.
ADDED_SINCE = {"pipeline": {"risks_steady_until": None}}


def _times_as_instants(value: Any) -> Any:
    """The JSON with every ISO-8601 time replaced by the instant it names."""
    if isinstance(value, dict):
        return {key: _times_as_instants(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_times_as_instants(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)",
                                               value):
        return datetime.fromisoformat(value)
    return value


def test_a_state_stored_by_the_earlier_release_loads_and_dumps_back_the_same() -> None:
    """Every key, time and nested form of the stored JSON survives a load and a dump (times
    in pydantic's notation now, ``Z`` for ``+00:00``: the same instants); fields added since
    come out with their defaults."""
    data = json.loads(STORED.read_text())
    stored = codec.load(StoredState, data)
    dumped = codec.dump(stored)
    expected = {**data, "pipeline": {**data["pipeline"], **ADDED_SINCE["pipeline"]}}
    assert _times_as_instants(dumped) == _times_as_instants(expected)
    assert dumped["pipeline"]["started_at"] == "2024-05-06T08:00:00Z"
    assert codec.load(StoredState, dumped) == stored
    state = stored.pipeline
    assert state.started_at == datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    assert state.started_at.tzinfo is UTC
    track = state.order("A")
    assert track.order.geofence.radius_m == 50.0
    assert track.visit.phase is VisitPhase.APPROACHING
    assert track.risks["in_low_battery"].label is RiskLabel.GREEN
    assert state.last_fix == Fix(datetime(2024, 5, 6, 8, 0, 20, tzinfo=UTC), 13.392000000000001,
                                 52.5, 5.0, 10.0, 90.0, None, 50.0)
    assert stored.devices == ["dev-1"] and stored.polyline_at is None


def test_times_read_back_in_utc_and_need_an_offset() -> None:
    """Any offset (or ``Z``) reads back as UTC; a time without one is refused."""
    fix = {"recorded_at": "2024-05-06T10:00:00+02:00", "lon": 13.4, "lat": 52.5}
    assert codec.load(Fix, fix).recorded_at == datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    assert codec.load(Fix, {**fix, "recorded_at": "2024-05-06T08:00:00Z"}) == codec.load(Fix, fix)
    with pytest.raises(ValueError, match="time"):
        codec.load(Fix, {**fix, "recorded_at": "2024-05-06T08:00:00"})
