"""Breaks and reloads between a route's orders (``route.day_stops``, an extension).

A planning run puts them there (``planning.daystops``); each entry is anchored after an order
(``after_order_id``, None for before the first). Estimates drive through them: a reload is a
stop at the depot for its service time, a break a pause where the worker is, no earlier than
its ``after`` and over by its ``before``. The estimate's times are written back into the
entries, which the route's wire shape shows as ``breaks`` and ``reloads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.routes.estimates import RouteEstimate, StopInput
from routekeeper.travel.base import LonLat

BREAK = "break"
RELOAD = "reload"


def _key(number: int) -> str:
    return f"day-stop:{number}"


def _entry_stop(number: int, entry: dict[str, Any], here: LonLat) -> StopInput:
    """The estimate's view of one break or reload, the worker being at ``here`` before it."""
    if entry["kind"] == RELOAD:
        lon, lat = entry["location"]
        return StopInput(key=_key(number), location=(float(lon), float(lat)),
                         service_s=int(entry.get("duration") or 0))
    duration = int(entry["duration"])
    return StopInput(key=_key(number), location=here,
                     scheduled_after=parse_ts(entry["after"]),
                     scheduled_at=parse_ts(entry["before"]) - timedelta(seconds=duration),
                     service_s=duration)


def interleave(route: Route, stops: Sequence[StopInput], start: LonLat | None) -> list[StopInput]:
    """The order stops with the route's breaks and reloads after their anchors.

    An entry whose anchor is no longer on the route (done, removed) goes first: the worker
    still has that break or reload ahead.
    """
    entries = route.day_stops or []
    if not entries:
        return list(stops)
    keys = {stop.key for stop in stops}
    after: dict[str | None, list[int]] = {}
    for number, entry in enumerate(entries):
        anchor = entry.get("after_order_id")
        after.setdefault(anchor if anchor in keys else None, []).append(number)
    result: list[StopInput] = []
    here = start if start is not None else (stops[0].location if stops else None)
    for anchor in [None, *(stop.key for stop in stops)]:
        if anchor is not None:
            stop = next(s for s in stops if s.key == anchor)
            result.append(stop)
            here = stop.location
        for number in after.get(anchor, []):
            if here is None:
                continue  # nowhere to be: nothing to visit and no start
            result.append(_entry_stop(number, entries[number], here))
            here = result[-1].location
    return result


def record(route: Route, estimate: RouteEstimate) -> None:
    """Write the estimated start and end of each break and reload into its entry."""
    if not route.day_stops:
        return
    timed = {stop.key: stop for stop in estimate.stops}
    entries = []
    for number, entry in enumerate(route.day_stops):
        stop = timed.get(_key(number))
        updated = dict(entry)
        updated["start_at"] = format_ts(stop.service_start_at) if stop else None
        updated["end_at"] = format_ts(stop.departure_at) if stop else None
        entries.append(updated)
    # A new list, so that the JSON column is seen as changed.
    route.day_stops = entries


def day_stops_wire(route: Route, orders: Sequence[Order]) -> dict[str, list[dict[str, Any]]]:
    """The route's ``breaks`` and ``reloads`` as shown on the wire."""
    handles = {order.id: order.order_handle for order in orders}
    breaks: list[dict[str, Any]] = []
    reloads: list[dict[str, Any]] = []
    for entry in route.day_stops or []:
        item: dict[str, Any] = {
            "after_order_handle": handles.get(entry.get("after_order_id") or ""),
            "start_at": entry.get("start_at"),
            "end_at": entry.get("end_at"),
            "duration": entry.get("duration"),
        }
        if entry["kind"] == BREAK:
            breaks.append({"id": entry["id"], "after": entry["after"],
                           "before": entry["before"], **item})
        else:
            lon, lat = entry["location"]
            reloads.append({"location": {"type": "Point", "coordinates": [lon, lat]}, **item})
    return {"breaks": breaks, "reloads": reloads}
