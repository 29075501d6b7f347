"""Positions as devices report them (fixes), their validation and time/unit helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

from routekeeper.core.timefmt import format_instant
from routekeeper.tracking.engine.geofence import haversine_m
from routekeeper.travel.base import LonLat

METRES_PER_NAUTICAL_MILE = 1852.0

# A fix whose accuracy is unknown is treated as this good (a typical outdoor phone GPS fix).
ASSUMED_ACCURACY_M = 20.0

# No tracker of this service's era reports earlier; an older stamp is an unset clock (GPS
# week rollover, a zeroed RTC) and would sort before every real fix of the device.
EARLIEST_FIX = datetime(2000, 1, 1, tzinfo=UTC)


def knots_to_mps(knots: float) -> float:
    """Convert a speed in knots (NMEA, OsmAnd, Traccar) to metres per second."""
    return knots * METRES_PER_NAUTICAL_MILE / 3600.0


def mps_to_knots(mps: float) -> float:
    """Convert a speed in metres per second to knots."""
    return mps * 3600.0 / METRES_PER_NAUTICAL_MILE


def kmh_to_mps(kmh: float) -> float:
    """Convert a speed in kilometres per hour to metres per second."""
    return kmh / 3.6


def format_utc_ms(value: datetime) -> str:
    """Render an aware datetime as ISO-8601 UTC with milliseconds and ``Z`` (the API's form,
    ``core.timefmt``: a third cheaper than strftime, and a route's batch formats dozens)."""
    return format_instant(value)


def load_time(value: Any) -> datetime | None:
    """Parse an ISO-8601 string with an offset (as stored in tracking state) to UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` in UTC; raise ValueError when it is naive (no zone is guessed)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _stored_utc(value: datetime) -> datetime:
    return require_aware(value, "a stored time")


Instant = Annotated[datetime, AfterValidator(_stored_utc)]
"""A time in stored tracking state (``engine.codec``): ISO-8601 text with microseconds (when
not zero) and its offset (``Z`` for UTC, pydantic's own JSON form), read back as an aware UTC
datetime (text without an offset is an error).

Written by pydantic's own serialiser: a Python function per time (``isoformat`` with
``+00:00``, as earlier releases stored them) cost 1.9 us against 0.3 us, and a route's state
holds dozens of times, written after every batch (a 16 KB state of 12 orders dumps in about
140 us now). Both forms load.
"""


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report: when it was recorded, where, and what the device said about it."""

    recorded_at: Instant
    lon: float
    lat: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    bearing_deg: float | None = None
    altitude_m: float | None = None
    battery_percent: float | None = None

    @property
    def lonlat(self) -> LonLat:
        """Return the position as a (lon, lat) tuple."""
        return (self.lon, self.lat)

    @property
    def accuracy_or_assumed_m(self) -> float:
        """Return the reported accuracy, or :data:`ASSUMED_ACCURACY_M` when unknown."""
        return ASSUMED_ACCURACY_M if self.accuracy_m is None else self.accuracy_m


def _not_finite(value: float | None) -> bool:
    """Whether an optional number is present but NaN or infinite."""
    return value is not None and not math.isfinite(value)


def validate_fix(
    fix: Fix,
    *,
    now: datetime,
    previous: Fix | None,
    max_future_skew_s: float,
    max_speed_mps: float,
) -> str | None:
    """Return why ``fix`` must be rejected, or None when it is plausible.

    The implied-speed check credits both fixes' accuracy (a jump within the accuracy circles
    is noise, not speed) and works in either time order, so it can be used on arrival order.
    """
    reason = (_time_problem(fix, now, max_future_skew_s) or _place_problem(fix)
              or _reading_problem(fix, max_speed_mps))
    if reason is None and previous is not None:
        return implausible_move(fix, previous, max_speed_mps)
    return reason


def _time_problem(fix: Fix, now: datetime, max_future_skew_s: float) -> str | None:
    """Why the fix's time cannot be right (no zone, in the future, before 2000)."""
    if fix.recorded_at.tzinfo is None or fix.recorded_at.utcoffset() is None:
        return "recorded_at has no time zone"
    if (fix.recorded_at - require_aware(now, "now")).total_seconds() > max_future_skew_s:
        return "recorded_at is in the future"
    if fix.recorded_at < EARLIEST_FIX:
        return "recorded_at is before 2000"
    return None


def _place_problem(fix: Fix) -> str | None:
    """Why the fix's coordinates cannot be a place on Earth a worker is at."""
    if _not_finite(fix.lat) or _not_finite(fix.lon):
        return "coordinates are not finite numbers"
    if not -90.0 <= fix.lat <= 90.0:
        return "latitude out of range"
    if not -180.0 <= fix.lon <= 180.0:
        return "longitude out of range"
    if fix.lat == 0.0 and fix.lon == 0.0:
        return "impossible coordinates (0, 0)"
    return None


def _reading_problem(fix: Fix, max_speed_mps: float) -> str | None:
    """Why one of the fix's other readings (accuracy, speed, bearing, altitude, battery)
    cannot be right."""
    if _not_finite(fix.accuracy_m):
        return "accuracy is not a finite number"
    if fix.accuracy_m is not None and fix.accuracy_m < 0:
        return "negative accuracy"
    if _not_finite(fix.speed_mps):
        return "speed is not a finite number"
    if fix.speed_mps is not None and fix.speed_mps < 0:
        return "negative speed"
    if fix.speed_mps is not None and fix.speed_mps > max_speed_mps:
        return f"reported speed of {fix.speed_mps:.0f} m/s is not plausible"
    if _not_finite(fix.bearing_deg):
        return "bearing is not a finite number"
    if fix.bearing_deg is not None and not 0.0 <= fix.bearing_deg <= 360.0:
        return "bearing out of range"
    if _not_finite(fix.altitude_m):
        return "altitude is not a finite number"
    if _not_finite(fix.battery_percent):
        return "battery is not a finite number"
    if fix.battery_percent is not None and not 0.0 <= fix.battery_percent <= 100.0:
        return "battery_percent out of range"
    return None


def implausible_move(fix: Fix, previous: Fix, max_speed_mps: float) -> str | None:
    """Reject a jump the worker could not have made since ``previous`` (accuracy credited)."""
    distance_m = haversine_m(previous.lonlat, fix.lonlat)
    slack_m = (previous.accuracy_m or 0.0) + (fix.accuracy_m or 0.0)
    excess_m = max(0.0, distance_m - slack_m)
    if excess_m == 0.0:
        return None
    dt_s = abs((fix.recorded_at - previous.recorded_at).total_seconds())
    if dt_s == 0.0:
        return (
            f"implied speed from the previous position is not plausible "
            f"({excess_m:.0f} m apart at the same recorded_at)"
        )
    implied_mps = excess_m / dt_s
    if implied_mps > max_speed_mps:
        return f"implied speed of {implied_mps:.0f} m/s from the previous position is not plausible"
    return None
