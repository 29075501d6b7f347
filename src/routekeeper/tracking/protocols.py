"""Device protocols decoded into fixes: OsmAnd (query or form), Traccar Client JSON, OwnTracks.

Pure functions from what the device sent to ``(ingest key, fixes)``; units are converted here
(knots, km/h, battery fractions) so everything after this module is SI. A request whose shape is
wrong (no coordinates, text where a number belongs) is a :class:`RequestValidationFailed`
naming the field; whether a well-formed fix is *plausible* is decided later by
``fixes.validate_fix``, so that it can be reported per fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from routekeeper.core.errors import RequestValidationFailed
from routekeeper.core.timefmt import parse_ts
from routekeeper.tracking.engine.fixes import Fix, kmh_to_mps, knots_to_mps

# Traccar reads a numeric timestamp below 2**31 - 1 as seconds, anything larger as milliseconds.
_SECONDS_LIMIT = 2**31 - 1


def _invalid(location: str, field: str, message: str) -> RequestValidationFailed:
    return RequestValidationFailed({location: {field: [message]}})


def _ms(value: datetime) -> datetime:
    """Truncate to milliseconds, the precision positions are stored and compared at."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _from_epoch(value: float) -> datetime:
    seconds = value if abs(value) < _SECONDS_LIMIT else value / 1000.0
    return _ms(datetime.fromtimestamp(seconds, UTC))


def parse_timestamp(text: str) -> datetime:
    """An OsmAnd ``timestamp``: Unix seconds (or milliseconds), ISO-8601, or ``Y-m-d H:M:S``."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        if number is not None:
            if not math.isfinite(number):
                raise ValueError("not finite")
            return _from_epoch(number)
        if len(text) == 19 and text[10] == " ":
            # Traccar's fallback format, without a zone: UTC, like every naive time here.
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return parse_ts(text)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(
            "Not a valid timestamp: Unix seconds, milliseconds or ISO-8601 expected."
        ) from exc


def _number(raw: Any, location: str, field: str) -> float | None:
    """A JSON number or numeric text; None when absent or empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise _invalid(location, field, "Not a valid number.")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            pass
    raise _invalid(location, field, "Not a valid number.")


def _known(value: float | None) -> float | None:
    """Background-geolocation SDKs report an unknown speed, heading or level as -1."""
    return None if value is None or value < 0 else value


def query_parameters(query: bytes) -> dict[str, str]:
    """A query string's (or a form body's) parameters as Starlette's ``QueryParams`` reads
    them: latin-1, blank values kept, the last of a repeated name.

    Phones send one query string a fix, thousands a second across a fleet, and theirs hold
    nothing escaped: split directly, it costs a fraction of ``parse_qsl`` and a multidict (a
    tenth of the API's request thread in a py-spy profile). Anything with an escape or a
    ``+`` goes through ``parse_qsl`` itself.
    """
    text = query.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    params: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            params[name] = value
    return params


def parse_osmand(
    params: Mapping[str, str], *, location: str, received_at: datetime
) -> tuple[str | None, Fix]:
    """Decode OsmAnd / Traccar Client parameters (``id``, ``lat``, ``lon``, ``speed`` in knots...).

    ``location`` names where the parameters came from (``query`` or ``form``) for errors. A
    missing ``timestamp`` means "now", as in Traccar.
    """
    key = params.get("id") or params.get("deviceid")
    lat = _number(params.get("lat"), location, "lat")
    lon = _number(params.get("lon"), location, "lon")
    if (lat is None or lon is None) and params.get("location"):
        parts = params["location"].split(",")
        if len(parts) != 2:
            raise _invalid(location, "location", "Expected 'latitude,longitude'.")
        lat = _number(parts[0], location, "location")
        lon = _number(parts[1], location, "location")
    if lat is None:
        raise _invalid(location, "lat", "Missing data for required field.")
    if lon is None:
        raise _invalid(location, "lon", "Missing data for required field.")
    recorded_at = received_at
    if params.get("timestamp"):
        try:
            recorded_at = parse_timestamp(params["timestamp"])
        except ValueError as exc:
            raise _invalid(location, "timestamp", str(exc)) from exc
    speed_kn = _number(params.get("speed"), location, "speed")
    bearing = params.get("bearing") if params.get("bearing") is not None else params.get("heading")
    fix = Fix(
        recorded_at=recorded_at, lon=lon, lat=lat,
        accuracy_m=_number(params.get("accuracy"), location, "accuracy"),
        speed_mps=None if speed_kn is None else knots_to_mps(speed_kn),
        bearing_deg=_number(bearing, location, "bearing"),
        altitude_m=_number(params.get("altitude"), location, "altitude"),
        battery_percent=_number(params.get("batt"), location, "batt"),
    )
    return key, fix


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid("json", field, "Not a valid object.")
    return value


def _traccar_fix(raw: Any, field: str) -> Fix:
    """One ``location`` object of the background-geolocation format Traccar Client 9 sends."""
    item = _object(raw, field)
    stamp = item.get("timestamp")
    if not isinstance(stamp, str):
        raise _invalid("json", f"{field}.timestamp", "Missing data for required field.")
    try:
        recorded_at = parse_ts(stamp)
    except ValueError as exc:
        raise _invalid("json", f"{field}.timestamp", str(exc)) from exc
    if "coords" not in item:
        # Traccar would reuse the last known position; a fix without coordinates is no fix.
        raise _invalid("json", f"{field}.coords", "Missing data for required field.")
    coords = _object(item["coords"], f"{field}.coords")
    where = f"{field}.coords"
    lat = _number(coords.get("latitude"), "json", f"{where}.latitude")
    lon = _number(coords.get("longitude"), "json", f"{where}.longitude")
    if lat is None or lon is None:
        name = "latitude" if lat is None else "longitude"
        raise _invalid("json", f"{where}.{name}", "Missing data for required field.")
    battery_percent = None
    if isinstance(item.get("battery"), Mapping):
        level = _known(_number(item["battery"].get("level"), "json", f"{field}.battery.level"))
        battery_percent = None if level is None else level * 100.0
    return Fix(
        recorded_at=recorded_at, lon=lon, lat=lat,
        accuracy_m=_known(_number(coords.get("accuracy"), "json", f"{where}.accuracy")),
        speed_mps=_known(_number(coords.get("speed"), "json", f"{where}.speed")),
        bearing_deg=_known(_number(coords.get("heading"), "json", f"{where}.heading")),
        altitude_m=_number(coords.get("altitude"), "json", f"{where}.altitude"),
        battery_percent=battery_percent,
    )


def parse_traccar_json(body: Any, *, max_items: int) -> tuple[str | None, list[Fix]]:
    """Decode ``{"device_id", "location": {...}}`` (or a list of at most ``max_items``
    locations, as in batch sync)."""
    root = _object(body, "_schema")
    key = root.get("device_id")
    if key is not None and not isinstance(key, str):
        raise _invalid("json", "device_id", "Not a valid string.")
    raw = root.get("location")
    if raw is None:
        raise _invalid("json", "location", "Missing data for required field.")
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > max_items:
        raise _invalid("json", "location", f"At most {max_items} locations per request.")
    fixes = [_traccar_fix(item, f"location.{i}" if isinstance(raw, list) else "location")
             for i, item in enumerate(items)]
    return key, fixes


def parse_owntracks(body: Any) -> Fix | None:
    """Decode an OwnTracks ``_type: location`` message (``vel`` in km/h); None for other types."""
    root = _object(body, "_schema")
    if root.get("_type") != "location":
        return None
    lat = _number(root.get("lat"), "json", "lat")
    lon = _number(root.get("lon"), "json", "lon")
    tst = _number(root.get("tst"), "json", "tst")
    for name, value in (("lat", lat), ("lon", lon), ("tst", tst)):
        if value is None:
            raise _invalid("json", name, "Missing data for required field.")
    assert lat is not None and lon is not None and tst is not None
    try:
        recorded_at = _ms(datetime.fromtimestamp(tst, UTC))
    except (ValueError, OverflowError, OSError) as exc:
        raise _invalid("json", "tst", "Not a valid Unix timestamp.") from exc
    vel = _known(_number(root.get("vel"), "json", "vel"))
    return Fix(
        recorded_at=recorded_at, lon=lon, lat=lat,
        accuracy_m=_number(root.get("acc"), "json", "acc"),
        speed_mps=None if vel is None else kmh_to_mps(vel),
        bearing_deg=_known(_number(root.get("cog"), "json", "cog")),
        altitude_m=_number(root.get("alt"), "json", "alt"),
        battery_percent=_number(root.get("batt"), "json", "batt"),
    )
