"""Tests of the distance accumulator, coverage, polylines and deviation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.actuals import (
    MAX_STORED_GAPS,
    Actuals,
    accumulate,
    deviation_from_destination_m,
    polyline_points,
)
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence

from .simulate import ORIGIN, at, offset


def noisy(
    positions: list[tuple[float, float]],
    *,
    noise_m: float,
    step_s: float = 5.0,
    seed: int = 1,
    speed_mps: float | None = None,
) -> list[Fix]:
    """Return fixes at (east, north) positions with Gaussian noise and honest accuracy."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (e, n) in enumerate(positions):
        lon, lat = offset(ORIGIN, e + rng.normal(0, noise_m), n + rng.normal(0, noise_m))
        accuracy = 1.5 * noise_m
        out.append(Fix(at(i * step_s), lon, lat, accuracy_m=accuracy, speed_mps=speed_mps))
    return out


def test_straight_drive_distance() -> None:
    """A 5 km straight drive at 10 m/s with 5 m noise measures within 2% of 5 km."""
    fixes = noisy([(i * 50.0, 0.0) for i in range(101)], noise_m=5)
    acc = accumulate(fixes)
    assert acc.distance_with_pending_m == pytest.approx(5000, rel=0.02)
    assert acc.distance_m <= acc.distance_with_pending_m
    assert acc.duration_s == 500


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_stationary_jitter_is_not_distance(seed: int) -> None:
    """An hour parked with 8 m noise, one fix every 5 s, adds (almost) nothing."""
    fixes = noisy([(0.0, 0.0)] * 720, noise_m=8, seed=seed)
    assert accumulate(fixes).distance_m < 50


def test_slow_walk_is_mostly_counted() -> None:
    """Walking 600 m at 1 m/s (5 m per fix, under the accuracy) is counted within 15 %."""
    fixes = noisy([(i * 5.0, 0.0) for i in range(121)], noise_m=5, seed=2)
    assert 0.85 * 600 < accumulate(fixes).distance_with_pending_m < 1.15 * 600


def test_reported_stationary_speed_blocks_moves() -> None:
    """Fixes reporting a near-zero speed never start a move, even with coarse jitter."""
    fixes = noisy([(0.0, 0.0)] * 300, noise_m=30, seed=4, speed_mps=0.0)
    assert accumulate(fixes).distance_m == 0.0


def test_spike_is_not_counted() -> None:
    """One fix 300 m off that comes straight back counts no distance."""
    positions = [(0.0, 0.0)] * 5 + [(300.0, 0.0)] + [(0.0, 0.0)] * 5
    assert accumulate(noisy(positions, noise_m=0.0)).distance_with_pending_m == 0.0


def test_short_moves_under_accuracy_are_ignored_but_not_lost() -> None:
    """Steps shorter than the combined accuracy wait until the anchor is far enough."""
    positions = [(i * 4.0, 0.0) for i in range(51)]  # 200 m in 4 m steps, accuracy 15 m
    acc = accumulate(noisy(positions, noise_m=0.0 + 1e-9))
    assert acc.distance_with_pending_m == pytest.approx(200, abs=35)


def test_coverage_and_late_fix_fills_gap() -> None:
    """A 10-minute gap lowers the tracking rate; a late fix in its middle restores coverage."""
    times = [*range(0, 600, 10), *range(1200, 1800, 10)]
    fixes = [Fix(at(t), ORIGIN[0], ORIGIN[1], accuracy_m=5) for t in times]
    acc = accumulate(fixes)
    assert acc.gaps == ((at(590), at(1200)),)
    assert acc.tracking_rate() == pytest.approx(1 - 610 / 1790, abs=1e-3)
    filled = acc.add(Fix(at(900), ORIGIN[0], ORIGIN[1], accuracy_m=5))
    assert filled.gaps == ((at(590), at(900)), (at(900), at(1200)))
    filled = filled.add_late(Fix(at(750), *ORIGIN)).add_late(Fix(at(1050), *ORIGIN))
    assert filled.gaps == () and filled.tracking_rate() == 1.0
    assert filled.distance_m == acc.distance_m
    assert acc.add_late(fixes[3]) == acc  # a duplicate changes nothing


def test_tracking_rate_bounds() -> None:
    """The rate is 0 without fixes, 1 for one instant, and counts a trailing silence."""
    assert Actuals().tracking_rate() == 0.0
    one = Actuals().add(Fix(at(0), *ORIGIN))
    assert one.tracking_rate() == 1.0
    steady = accumulate(Fix(at(t), *ORIGIN) for t in range(0, 600, 30))
    assert steady.tracking_rate(until_at=at(570)) == 1.0
    assert steady.tracking_rate(until_at=at(1170)) == pytest.approx(570 / 1170, abs=1e-3)
    assert steady.tracking_rate(since_at=at(-600)) == pytest.approx(570 / 1170, abs=1e-3)


def test_round_trip() -> None:
    """The accumulator survives the state codec."""
    acc = accumulate(noisy([(i * 50.0, 0.0) for i in range(10)], noise_m=5))
    acc = acc.add(Fix(at(1000), *ORIGIN))
    assert codec.load(Actuals, codec.dump(acc)) == acc


def test_polyline_points() -> None:
    """Points are sorted, one per instant, [lon, lat, altitude, ISO ms Z]."""
    a = Fix(at(1.5), 13.1, 52.1, altitude_m=34.0)
    b = Fix(at(0), 13.0, 52.0)
    assert polyline_points([a, b, a]) == [
        [13.0, 52.0, None, "2024-05-06T08:00:00.000Z"],
        [13.1, 52.1, 34.0, "2024-05-06T08:00:01.500Z"],
    ]


def test_deviation_from_destination() -> None:
    """Deviation is the distance to a point or circle centre, or to a polygon outside it."""
    point = offset(ORIGIN, 30, 40)
    assert deviation_from_destination_m(ORIGIN, point) == pytest.approx(50, abs=0.1)
    assert deviation_from_destination_m(Geofence.circle(ORIGIN, 100), point) == pytest.approx(
        50, abs=0.1
    )
    ring = [list(offset(ORIGIN, e, n)) for e, n in [(-20, -20), (20, -20), (20, 20), (-20, 20)]]
    square = Geofence.from_geojson({"type": "Polygon", "coordinates": [ring]})
    assert deviation_from_destination_m(square, ORIGIN) == 0.0
    assert deviation_from_destination_m(square, offset(ORIGIN, 50, 0)) == pytest.approx(30, abs=0.1)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(1, 60), st.floats(-500, 500), st.floats(-500, 500), st.floats(1, 50)),
        max_size=80,
    )
)
def test_distance_never_decreases_and_rate_is_a_fraction(
    samples: list[tuple[float, float, float, float]],
) -> None:
    """Whatever the track, distance grows monotonically and tracking_rate stays in [0, 1]."""
    acc = Actuals()
    t = 0.0
    last = 0.0
    for dt, e, n, accuracy in samples:
        t += dt
        lon, lat = offset(ORIGIN, e, n)
        acc = acc.add(Fix(at(t), lon, lat, accuracy_m=accuracy))
        assert acc.distance_m >= last
        last = acc.distance_m
        assert 0.0 <= acc.tracking_rate(until_at=at(t + 500)) <= 1.0


_MOVES = st.lists(
    st.tuples(st.floats(0.5, 400), st.floats(-300, 300), st.floats(-300, 300),
              st.one_of(st.none(), st.floats(1, 50)), st.one_of(st.none(), st.floats(0, 20))),
    min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(_MOVES, _MOVES, st.integers(0, 2), st.booleans())
def test_a_batch_counted_at_once_equals_its_fixes_counted_one_by_one(
    before: list[tuple[float, float, float, float | None, float | None]],
    batch: list[tuple[float, float, float, float | None, float | None]],
    split: int, nearly_full_of_gaps: bool,
) -> None:
    """``add_fresh`` gives the value ``add`` gives fix by fix, whatever came before (gaps
    longer than TRACKING_GAP_S, spikes, stationary fixes, a gap list about to be folded),
    and the distance after each fix."""
    t = 0.0
    fixes = []
    for dt, e, n, accuracy, speed in before + batch:
        t += dt
        lon, lat = offset(ORIGIN, e, n)
        fixes.append(Fix(at(t), lon, lat, accuracy_m=accuracy, speed_mps=speed))
    start = Actuals()
    if nearly_full_of_gaps:  # the next gaps push the oldest into the folded total
        start = Actuals(gaps=tuple((at(-10_000.0 + 10 * i), at(-10_000.0 + 10 * i + 5))
                                   for i in range(MAX_STORED_GAPS - split)))
    earlier = accumulate(fixes[:len(before)], start)
    one_by_one = earlier
    distances = []
    for fix in fixes[len(before):]:
        one_by_one = one_by_one.add(fix)
        distances.append(one_by_one.distance_m)
    assert earlier.add_fresh(fixes[len(before):]) == (one_by_one, distances)
    assert earlier.add_fresh([]) == (earlier, [])
    if earlier.last_at is not None:
        with pytest.raises(ValueError):
            earlier.add_fresh([fixes[len(before) - 1]])
