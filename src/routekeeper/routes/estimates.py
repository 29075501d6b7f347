"""Route estimates as pure arithmetic over a travel model (contract section 3.5).

- Forward pass: from the departure, each stop's arrival (``arrive_at``), a wait until its
  ``scheduled_after``, then its service time, then the leg to the next stop.
- Backward pass: the latest arrival at each stop that still meets its own ``scheduled_at``
  and every later stop's; a stop's ``start_by`` is that latest arrival minus the leg that
  reaches it, and the route's ``start_by`` is the first stop's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routekeeper.travel.base import LonLat, TravelModel


@dataclass(frozen=True, slots=True)
class StopInput:
    """One stop to estimate: where, its window, and how long service takes."""

    key: str
    location: LonLat
    scheduled_after: datetime | None = None
    scheduled_at: datetime | None = None
    service_s: int = 0


@dataclass(frozen=True, slots=True)
class StopEstimate:
    """Estimated timing of one stop and the leg that reaches it."""

    key: str
    arrive_at: datetime
    start_by: datetime | None
    distance_m: int
    duration_s: int
    service_start_at: datetime
    departure_at: datetime


@dataclass(frozen=True, slots=True)
class RouteEstimate:
    """Estimated totals, geometry and per-stop timings of a route."""

    depart_at: datetime
    start_by: datetime | None
    distance_m: int
    duration_s: int
    polyline: list[LonLat]
    start_location: LonLat | None
    end_location: LonLat | None
    stops: list[StopEstimate] = field(default_factory=list)


def estimate_route(
    *,
    start: LonLat | None,
    stops: Sequence[StopInput],
    depart_at: datetime,
    travel: TravelModel,
    return_to_start: bool = False,
) -> RouteEstimate:
    """Estimate a route leaving ``start`` (or the first stop when unknown) at ``depart_at``."""
    origin = start if start is not None else (stops[0].location if stops else None)
    points: list[LonLat] = ([origin] if origin is not None else []) + [s.location for s in stops]
    end: LonLat | None = stops[-1].location if stops else origin
    if return_to_start and origin is not None and stops:
        points.append(origin)
        end = origin
    if len(points) >= 2:
        matrix = travel.matrix(points, points)
        legs_m = [int(matrix.distance_m[i, i + 1]) for i in range(len(points) - 1)]
        legs_s = [int(matrix.duration_s[i, i + 1]) for i in range(len(points) - 1)]
    else:
        legs_m, legs_s = [], []

    # Forward pass.
    clock = depart_at
    arrivals: list[tuple[datetime, datetime, datetime]] = []
    for index, stop in enumerate(stops):
        clock = clock + timedelta(seconds=legs_s[index])
        arrive = clock
        begin = max(arrive, stop.scheduled_after) if stop.scheduled_after else arrive
        clock = begin + timedelta(seconds=stop.service_s)
        arrivals.append((arrive, begin, clock))
    if return_to_start and stops:
        clock = clock + timedelta(seconds=legs_s[-1])

    # Backward pass: latest arrival at each stop keeping every later deadline.
    latest: list[datetime | None] = [None] * len(stops)
    following: datetime | None = None
    for index in range(len(stops) - 1, -1, -1):
        stop = stops[index]
        bound = stop.scheduled_at
        if following is not None:
            leg = legs_s[index + 1]
            through = following - timedelta(seconds=leg + stop.service_s)
            bound = through if bound is None else min(bound, through)
        latest[index] = bound
        following = bound
    stop_estimates = []
    for index, stop in enumerate(stops):
        bound = latest[index]
        arrive, begin, leave = arrivals[index]
        stop_estimates.append(
            StopEstimate(
                key=stop.key, arrive_at=arrive,
                start_by=None if bound is None else bound - timedelta(seconds=legs_s[index]),
                distance_m=legs_m[index], duration_s=legs_s[index],
                service_start_at=begin, departure_at=leave,
            )
        )
    return RouteEstimate(
        depart_at=depart_at,
        start_by=stop_estimates[0].start_by if stop_estimates else None,
        distance_m=sum(legs_m),
        duration_s=int((clock - depart_at).total_seconds()),
        polyline=points,
        start_location=origin,
        end_location=end,
        stops=stop_estimates,
    )
