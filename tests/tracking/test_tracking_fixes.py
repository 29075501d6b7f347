"""Tests of fix validation and unit helpers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from routekeeper.tracking.engine import codec
from routekeeper.tracking.engine.fixes import (
    Fix,
    format_utc_ms,
    kmh_to_mps,
    knots_to_mps,
    load_time,
    mps_to_knots,
    validate_fix,
)

from .simulate import ORIGIN, T0, at, offset

NOW = T0 + timedelta(hours=1)


def check(fix: Fix, previous: Fix | None = None, now: datetime = NOW) -> str | None:
    """Validate with the default settings."""
    return validate_fix(fix, now=now, previous=previous, max_future_skew_s=300, max_speed_mps=90)


def good(**changes: object) -> Fix:
    """Return a plausible fix with some fields changed."""
    fields: dict[str, object] = {"recorded_at": at(0), "lon": ORIGIN[0], "lat": ORIGIN[1]}
    fields.update(changes)
    return Fix(**fields)  # type: ignore[arg-type]


def test_plausible_fix_passes() -> None:
    """A normal fix with every optional field is accepted."""
    fix = good(accuracy_m=8, speed_mps=12, bearing_deg=90, altitude_m=34, battery_percent=50)
    assert check(fix) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"recorded_at": NOW + timedelta(seconds=301)}, "recorded_at is in the future"),
        ({"lat": 90.5}, "latitude out of range"),
        ({"lat": -91.0}, "latitude out of range"),
        ({"lon": 180.5}, "longitude out of range"),
        ({"lon": -200.0}, "longitude out of range"),
        ({"lon": 0.0, "lat": 0.0}, "impossible coordinates (0, 0)"),
        ({"lat": math.nan}, "coordinates are not finite numbers"),
        ({"accuracy_m": -1.0}, "negative accuracy"),
        ({"accuracy_m": math.inf}, "accuracy is not a finite number"),
        ({"speed_mps": -0.1}, "negative speed"),
        ({"speed_mps": 120.0}, "reported speed of 120 m/s is not plausible"),
        ({"bearing_deg": 361.0}, "bearing out of range"),
        ({"battery_percent": 101.0}, "battery_percent out of range"),
        ({"altitude_m": math.nan}, "altitude is not a finite number"),
        ({"recorded_at": datetime(2024, 5, 6, 8, 0)}, "recorded_at has no time zone"),  # noqa: DTZ001
    ],
)
def test_rejection_reasons(changes: dict[str, object], reason: str) -> None:
    """Each kind of implausible fix is rejected with its own clear reason."""
    assert check(good(**changes)) == reason


def test_small_future_skew_is_tolerated() -> None:
    """A device clock a little ahead of the server (within max_future_skew_s) is accepted."""
    assert check(good(recorded_at=NOW + timedelta(seconds=299))) is None


def test_implied_speed_is_rejected() -> None:
    """Ten kilometres in ten seconds from the previous fix is not plausible."""
    previous = good(recorded_at=at(0))
    lon, lat = offset(ORIGIN, 10_000, 0)
    reason = check(good(recorded_at=at(10), lon=lon, lat=lat), previous)
    assert reason is not None
    assert reason.startswith("implied speed of 1000 m/s")
    assert reason.endswith("from the previous position is not plausible")


def test_implied_speed_credits_accuracy() -> None:
    """A 300 m jump within two 200 m accuracy circles is noise, not speed."""
    previous = good(recorded_at=at(0), accuracy_m=200)
    lon, lat = offset(ORIGIN, 300, 0)
    assert check(good(recorded_at=at(1), lon=lon, lat=lat, accuracy_m=200), previous) is None


def test_implied_speed_same_instant_and_either_order() -> None:
    """Two distant fixes at one instant are rejected; an older fix is judged by |dt| too."""
    previous = good(recorded_at=at(100))
    lon, lat = offset(ORIGIN, 500, 0)
    same = check(good(recorded_at=at(100), lon=lon, lat=lat), previous)
    assert same is not None and "same recorded_at" in same
    older = check(good(recorded_at=at(99), lon=lon, lat=lat), previous)
    assert older is not None and older.startswith("implied speed of 500 m/s")
    assert check(good(recorded_at=at(50), lon=lon, lat=lat), previous) is None


def test_speed_conversions() -> None:
    """Knots and km/h convert to m/s with the usual factors and back."""
    assert knots_to_mps(1.0) == pytest.approx(0.514444, rel=1e-6)
    assert mps_to_knots(knots_to_mps(17.0)) == pytest.approx(17.0)
    assert kmh_to_mps(36.0) == pytest.approx(10.0)


def test_time_helpers() -> None:
    """Times render with milliseconds and Z, and parse back aware in UTC."""
    plus2 = timezone(timedelta(hours=2))
    value = datetime(2024, 5, 6, 10, 0, 1, 234567, tzinfo=plus2)
    assert format_utc_ms(value) == "2024-05-06T08:00:01.234Z"
    assert load_time("2024-05-06T08:00:01.234Z") == value.replace(microsecond=234000)
    with pytest.raises(ValueError, match="time zone"):
        load_time("2024-05-06T08:00:01")


def test_fix_round_trip() -> None:
    """A fix survives the state codec unchanged."""
    fix = good(accuracy_m=8.5, speed_mps=3.0, bearing_deg=12.0, battery_percent=40.0)
    assert codec.load(Fix, codec.dump(fix)) == fix
