"""Route estimates as pure arithmetic over a travel model (contract section 3.5).

- Forward pass: from the departure, each stop's arrival (``arrive_at``), a wait until its
  ``scheduled_after``, then its service time, then the leg to the next stop.
- Backward pass: the latest arrival at each stop that still meets its own ``scheduled_at``
  and every later stop's; a stop's ``start_by`` is that latest arrival minus the leg that
  reaches it (the latest moment to set off towards it), and the route's ``start_by`` is the
  first stop's: the latest departure that keeps every deadline, whenever any departure can.
- Totals describe the drive: ``distance_m`` and ``duration_s`` are the sums of the legs (the
  leg back to the start included when the route returns there); waits and service time shape
  arrivals and ``start_by`` but are not travel (a compatibility decision: HyperTrack does not
  say; its estimate duration sits next to the drive's distance and polyline).
- Road data (the road model): a leg with no road between its ends is *unreachable*; it counts
  0 s and 0 m in the arithmetic, and the stops from there on are marked so the wire can show
  no figure instead of an invented one. A leg measured by the straight-line model because an
  end is off the road network is listed too. The polyline follows the roads (OSRM's route
  geometry) wherever the legs are road legs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routekeeper.travel.base import DriveModel, LonLat, TravelModel, travel_path


@dataclass(frozen=True, slots=True)
class StopInput:
    """One stop to estimate: where, its window, and how long service takes."""

    key: str
    location: LonLat
    scheduled_after: datetime | None = None
    scheduled_at: datetime | None = None
    service_s: int = 0
    # Alternative windows inside scheduled_after..scheduled_at: service starts in the first
    # one still open on arrival (empty: the single window).
    windows: tuple[tuple[datetime, datetime], ...] = ()

    def service_start(self, arrive: datetime) -> datetime:
        """When service starts for a worker arriving at ``arrive``."""
        for after, before in self.windows:
            if arrive <= before:
                return max(arrive, after)
        if self.windows:
            return arrive
        return max(arrive, self.scheduled_after) if self.scheduled_after else arrive


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
    # False once a leg up to this stop has no road: its figures are not to be shown.
    reachable: bool = True
    # Metres from the stop to the nearest road (road models only), and whether that is more
    # than the model accepts (the stop is off the road network: its legs are straight lines).
    snapped_m: float | None = None
    off_road: bool = False

    @property
    def wait_s(self) -> float:
        """Seconds spent waiting for the window to open after arriving."""
        return (self.service_start_at - self.arrive_at).total_seconds()


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
    finish_at: datetime
    stops: list[StopEstimate] = field(default_factory=list)
    # Leg i runs from polyline point i to i + 1 of the stops' sequence (start first).
    straight_legs: list[int] = field(default_factory=list)
    unreachable_legs: list[int] = field(default_factory=list)
    # Whether a road model measured it (the wire then says which legs were not road legs).
    on_roads: bool = False


@dataclass(frozen=True, slots=True)
class _Legs:
    metres: list[int]
    seconds: list[int]
    straight: list[int]
    unreachable: list[int]
    # Per point: metres to the nearest road, and whether only straight lines reach it.
    snapped_m: list[float | None] = field(default_factory=list)
    off_road: list[bool] = field(default_factory=list)
    polyline: list[LonLat] = field(default_factory=list)


def _legs(points: list[LonLat], travel: TravelModel) -> _Legs:
    """Metres and seconds of each consecutive leg through ``points``, the odd legs, the line.

    A road model drives the points as its engine's route service does (the figures of
    ``/route`` for those stops); other models give the matrix's cells and straight segments.
    """
    if len(points) < 2:
        return _Legs([], [], [], [], [None] * len(points), [False] * len(points), points)
    matrix = travel.matrix(points, points)
    pairs = range(len(points) - 1)
    unreachable = [i for i in pairs if matrix.is_unreachable(i, i + 1)]
    if isinstance(travel, DriveModel):
        drive = travel.drive(points, matrix)
        metres, seconds, polyline = drive.metres, drive.seconds, drive.geometry
    else:
        metres = [int(matrix.distance_m[i, i + 1]) for i in pairs]
        seconds = [int(matrix.duration_s[i, i + 1]) for i in pairs]
        polyline = travel_path(travel, points)
    snaps = matrix.destination_snap_m
    snapped: list[float | None] = [None] * len(points) if snaps is None else \
        [float(v) for v in snaps]
    # A point is off the road network when even the leg to itself is a straight-line one.
    off_road = [matrix.is_straight(k, k) for k in range(len(points))]
    return _Legs(
        metres=[0 if i in unreachable else metres[i] for i in pairs],
        seconds=[0 if i in unreachable else seconds[i] for i in pairs],
        straight=[i for i in pairs if matrix.is_straight(i, i + 1)],
        unreachable=unreachable,
        snapped_m=snapped,
        off_road=off_road,
        polyline=polyline,
    )


def first_leg_s(travel: TravelModel, start: LonLat | None, stops: Sequence[StopInput]) -> int:
    """Seconds from start to the first stop (0 without either, or when no road joins them)."""
    if start is None or not stops:
        return 0
    # The matrix, not leg(): only the figure is needed, not the leg's drawn geometry.
    cell = travel.matrix([start], [stops[0].location])
    return 0 if cell.is_unreachable(0, 0) else int(cell.duration_s[0, 0])


def _latest_arrivals(stops: Sequence[StopInput], legs_s: list[int]) -> list[datetime | None]:
    """The latest arrival at each stop that keeps its own and every later deadline."""
    latest: list[datetime | None] = [None] * len(stops)
    following: datetime | None = None
    for index in range(len(stops) - 1, -1, -1):
        stop = stops[index]
        bound = stop.scheduled_at
        if following is not None:
            # Arriving later than this pushes the next arrival past its own latest one
            # (a wait at this stop can only absorb lateness if the window is still closed).
            through = following - timedelta(seconds=legs_s[index + 1] + stop.service_s)
            bound = through if bound is None else min(bound, through)
        latest[index] = bound
        following = bound
    return latest


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
    returning = return_to_start and origin is not None and bool(stops)
    if returning:
        assert origin is not None
        points.append(origin)
        end = origin
    legs = _legs(points, travel)
    legs_m, legs_s = legs.metres, legs.seconds
    first_gap = min(legs.unreachable, default=len(points))

    clock = depart_at
    timings: list[tuple[datetime, datetime, datetime]] = []
    for index, stop in enumerate(stops):
        arrive = clock + timedelta(seconds=legs_s[index])
        begin = stop.service_start(arrive)
        clock = begin + timedelta(seconds=stop.service_s)
        timings.append((arrive, begin, clock))
    if returning:
        clock = clock + timedelta(seconds=legs_s[-1])

    latest = _latest_arrivals(stops, legs_s)
    estimates = [
        StopEstimate(
            key=stop.key, arrive_at=arrive,
            start_by=None if bound is None else bound - timedelta(seconds=legs_s[index]),
            distance_m=legs_m[index], duration_s=legs_s[index],
            service_start_at=begin, departure_at=leave, reachable=index < first_gap,
            # Stop i is point i + 1 of the drive (the start comes first).
            snapped_m=legs.snapped_m[index + 1] if origin is not None else None,
            off_road=legs.off_road[index + 1] if origin is not None else False,
        )
        for index, (stop, bound, (arrive, begin, leave)) in enumerate(
            zip(stops, latest, timings, strict=True))
    ]
    return RouteEstimate(
        depart_at=depart_at,
        start_by=estimates[0].start_by if estimates else None,
        distance_m=sum(legs_m),
        duration_s=sum(legs_s),
        polyline=legs.polyline,
        start_location=origin,
        end_location=end,
        finish_at=clock,
        stops=estimates,
        straight_legs=legs.straight,
        unreachable_legs=legs.unreachable,
        on_roads=getattr(travel, "kind", None) == "road",
    )
