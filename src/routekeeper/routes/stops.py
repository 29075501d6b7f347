"""Orders as the stops an estimate is computed over, and estimates as wire dictionaries."""

from __future__ import annotations

from typing import Any

from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.models.order import Order
from routekeeper.routes.estimates import RouteEstimate, StopEstimate, StopInput
from routekeeper.travel.base import LonLat


def point_wire(location: LonLat | None) -> dict[str, Any] | None:
    """A GeoJSON Point, or None for an unknown location."""
    if location is None:
        return None
    return {"type": "Point", "coordinates": [location[0], location[1]]}


def stop_input(order: Order) -> StopInput:
    """The stop an order with a known destination makes on a route."""
    assert order.destination_lon is not None and order.destination_lat is not None
    return StopInput(
        key=order.id, location=(order.destination_lon, order.destination_lat),
        scheduled_after=order.scheduled_after, scheduled_at=order.scheduled_at,
        service_s=order.expected_service_time or 0,
        windows=tuple((parse_ts(w["after"]), parse_ts(w["before"]))
                      for w in order.time_windows or []),
    )


def stop_estimate_wire(stop: StopEstimate) -> dict[str, Any]:
    """An order's ``estimate`` figures; none for a stop past a leg with no road.

    On a road network it also says how far the destination is from the nearest road
    (``snapped_distance``, metres) and whether that puts it off the network (``off_road``).
    """
    wire: dict[str, Any] = {"start_by": None, "arrive_at": None, "distance": None,
                            "duration": None}
    if stop.reachable:
        wire = {"start_by": format_ts(stop.start_by), "arrive_at": format_ts(stop.arrive_at),
                "distance": stop.distance_m, "duration": stop.duration_s}
    if stop.snapped_m is not None:
        wire.update(snapped_distance=round(stop.snapped_m), off_road=stop.off_road)
    return wire


def estimate_wire(estimate: RouteEstimate) -> dict[str, Any]:
    """``RouteDetailEstimate`` of a route estimate (with which legs are not road legs)."""
    gap = bool(estimate.unreachable_legs)
    wire: dict[str, Any] = {
        # A route with a leg no road joins has no drive to total: say so, invent nothing.
        "start_by": None if gap else format_ts(estimate.start_by),
        "distance": None if gap else estimate.distance_m,
        "duration": None if gap else estimate.duration_s,
        "polyline": {"type": "LineString",
                     "coordinates": [[p[0], p[1]] for p in estimate.polyline]},
        "start_location": point_wire(estimate.start_location),
        "end_location": point_wire(estimate.end_location),
    }
    if estimate.on_roads:
        wire["straight_line_legs"] = estimate.straight_legs
        wire["unreachable_legs"] = estimate.unreachable_legs
    return wire
