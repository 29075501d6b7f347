"""The body of ``POST /devices/{device_id}/locations``, read without FastAPI's body machinery.

A py-spy profile of the API under load (batches of 100 positions) had about 60 % of the
event loop in this body while FastAPI read it as a declared ``LocationsIn``: stdlib
``json.loads`` 16 %, pydantic's validation of the whole model 30 % (``parse_ts`` per item
10 % of it), ``to_fix`` and its list 13 %.

Here a body is first decoded by orjson, and :func:`fast_fixes` checks its items by hand and
builds the fixes directly. It accepts only what ``LocationsIn`` certainly accepts with the
same result, and gives up on anything else: a bool or a string for a number (pydantic's lax
mode takes both), a missing or extra coordinate, a ``recorded_at`` that ``parse_ts`` refuses,
JSON orjson does not read (NaN, a byte order mark, lone surrogates, numbers beyond a float).
Then the body goes the way FastAPI took (``core.bodies``): stdlib JSON, ``LocationsIn`` and
FastAPI's errors, so every answer is the one a declared body gave
(``tests/tracking/test_locations_body.py`` compares them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
from fastapi import Request

from routekeeper.core.bodies import decode_json, is_json_content_type, read_body, validate_body
from routekeeper.core.timefmt import parse_ts
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.schemas import LocationsIn


class _Unsure(Exception):
    """The fast path cannot vouch for an item: the body goes the slow way."""


# Fix's generated __init__ (frozen) sets each field through object.__setattr__: 1.3-1.6 us a
# fix, more than the rest of an item's work; setting its slots directly costs 0.5 us (as
# engine/evolve.py copies the engine's state). The same object, as Fix has no __post_init__.
_FIX_FIELDS = ("recorded_at", "lon", "lat", "accuracy_m", "speed_mps", "bearing_deg",
               "altitude_m", "battery_percent")
if tuple(f.name for f in fields(Fix)) != _FIX_FIELDS or hasattr(Fix, "__post_init__"):
    raise RuntimeError("Fix changed: update locations_body._new_fix.")
(_set_recorded_at, _set_lon, _set_lat, _set_accuracy, _set_speed, _set_bearing, _set_altitude,
 _set_battery) = (getattr(Fix, name).__set__ for name in _FIX_FIELDS)


def _new_fix(recorded_at: datetime, lon: float, lat: float, accuracy: float | None,
             speed: float | None, bearing: float | None, altitude: float | None,
             battery: float | None) -> Fix:
    """``Fix(...)`` of these values, without the cost of its ``__init__``."""
    fix = object.__new__(Fix)
    _set_recorded_at(fix, recorded_at)
    _set_lon(fix, lon)
    _set_lat(fix, lat)
    _set_accuracy(fix, accuracy)
    _set_speed(fix, speed)
    _set_bearing(fix, bearing)
    _set_altitude(fix, altitude)
    _set_battery(fix, battery)
    return fix


def _number(value: Any) -> float:
    # Exact types: bool is an int (pydantic would take True as 1.0), and a string may be a
    # number to pydantic; both go the slow way. An int becomes a float, as pydantic's does.
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    raise _Unsure


def _optional(value: Any) -> float | None:
    if value is None:
        return None
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    raise _Unsure


def _fix(item: Any) -> Fix:
    """One item as ``LocationIn.model_validate(item).to_fix()`` gives it, or _Unsure."""
    if type(item) is not dict:
        raise _Unsure
    get = item.get
    recorded = get("recorded_at")
    geometry = get("geometry")
    if type(recorded) is not str or type(geometry) is not dict:
        raise _Unsure
    # PointIn: "type" is "Point" or absent; 2 or 3 coordinates, all of them numbers.
    coordinates = geometry.get("coordinates")
    if geometry.get("type", "Point") != "Point" or type(coordinates) is not list:
        raise _Unsure
    altitude = _optional(get("altitude"))
    if len(coordinates) == 2:
        lon, lat = coordinates
    elif len(coordinates) == 3:
        lon, lat, height = coordinates
        height = _number(height)
        if altitude is None:
            altitude = height
    else:
        raise _Unsure
    try:
        # ApiDatetime is parse_ts, then pydantic's datetime check, which keeps its result.
        recorded_at = parse_ts(recorded)
    except ValueError as exc:
        raise _Unsure from exc
    return _new_fix(recorded_at, _number(lon), _number(lat), _optional(get("accuracy")),
                    _optional(get("speed")), _optional(get("bearing")), altitude,
                    _optional(get("battery")))


def fast_fixes(data: Any) -> list[Fix] | None:
    """The fixes of a decoded body as ``LocationsIn`` gives them, or None when the fast path
    is not sure of every item (unknown keys are ignored, as ``LocationsIn`` ignores them)."""
    if type(data) is not dict:
        return None
    items = data.get("locations")
    if type(items) is not list or not items:
        return None
    try:
        return [_fix(item) for item in items]
    except _Unsure:
        return None


def slow_fixes(value: Any) -> list[Fix]:
    """The fixes of a body as FastAPI read a declared ``LocationsIn`` (``value`` is what
    ``core.bodies.validate_body`` takes); a 422 for a malformed body."""
    return [item.to_fix() for item in validate_body(LocationsIn, value).locations]


@dataclass(frozen=True, slots=True)
class LocationsBody:
    """An upload's body read before its credentials are checked: its fixes when the fast path
    vouched for them, else what FastAPI validated (after the credentials)."""

    fixes: list[Fix] | None
    value: Any = None

    def validated(self) -> list[Fix]:
        """The upload's fixes; a 422 for a malformed body."""
        return self.fixes if self.fixes is not None else slow_fixes(self.value)


async def locations_body(request: Request) -> LocationsBody:
    """Read and decode an upload's body (a dependency resolved before the credentials).

    FastAPI decoded a declared body before any dependency ran, so JSON that does not decode
    was a 422 even without credentials, and stays one; a body that decodes but does not
    validate is a 422 only after the credentials were accepted (:meth:`LocationsBody.validated`
    runs in the endpoint).
    """
    raw = await read_body(request)
    if not raw or not is_json_content_type(request.headers.get("content-type")):
        return LocationsBody(None, raw)
    try:
        fixes = fast_fixes(orjson.loads(raw))
    except orjson.JSONDecodeError:
        fixes = None
    # Anything the fast path did not take is decoded again by the stdlib, whose verdict and
    # values FastAPI used (orjson reads big integers as floats, refuses NaN...).
    return LocationsBody(fixes) if fixes is not None else LocationsBody(None, decode_json(raw))
