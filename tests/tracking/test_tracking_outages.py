"""Outage summaries of a tracked leg: gaps longer than the tracking gap, edges included."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from routekeeper.tracking.engine.actuals import TRACKING_GAP_S
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.outages import merge, outage_summary

T = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def fix(seconds: float, lon: float = 13.4) -> Fix:
    """A fix ``seconds`` after T at (lon, 52.5)."""
    return Fix(T + timedelta(seconds=seconds), lon, 52.5)


def test_no_gap_no_outage() -> None:
    """Fixes every minute from start to end: nothing is reported."""
    fixes = [fix(60 * i) for i in range(11)]
    assert outage_summary(fixes, since_at=T, until_at=T + timedelta(minutes=10)) == []


def test_a_gap_counts_its_time_and_the_distance_covered_unseen() -> None:
    """A 10-minute silence between two fixes 0.01 degrees apart is one outage."""
    fixes = [fix(0), fix(60), fix(660, lon=13.41), fix(720, lon=13.41)]
    (outage,) = outage_summary(fixes, since_at=T, until_at=T + timedelta(seconds=720))
    assert outage["category"] == "reachability" and outage["duration"] == 600
    assert 670 <= outage["distance"] <= 690  # 0.01 degrees of longitude at 52.5 N


def test_silence_from_the_start_and_to_the_end_counts() -> None:
    """The leg's edges count: a device silent for the first and last 5 minutes."""
    fixes = [fix(300), fix(360)]
    (outage,) = outage_summary(fixes, since_at=T, until_at=T + timedelta(seconds=660))
    assert outage["duration"] == 600 and outage["distance"] == 0
    assert outage_summary([], since_at=T, until_at=T + timedelta(hours=1))[0]["duration"] \
        == 3600


@given(st.lists(st.floats(0, 7200), max_size=40))
def test_outage_time_never_exceeds_the_leg(times: list[float]) -> None:
    """Whatever the fixes, the outage lasts at most the leg and only gaps count."""
    fixes = [fix(t) for t in sorted(times)]
    summary = outage_summary(fixes, since_at=T, until_at=T + timedelta(hours=2))
    total = sum(item["duration"] for item in summary)
    assert 0 <= total <= 7200
    edges = [0.0, *sorted(times), 7200.0]
    longest = max(b - a for a, b in itertools.pairwise(edges))
    assert (total > 0) == (longest > TRACKING_GAP_S)


def test_merge_adds_up_per_code() -> None:
    """Summaries of several orders merge into one item per code with a count."""
    item = {"code": "device_unreachable", "label": "x", "description": "y",
            "category": "reachability", "duration": 300, "distance": 100}
    assert merge([[item], None, [], [item]]) == [{**item, "duration": 600, "distance": 200,
                                                  "count": 2}]
