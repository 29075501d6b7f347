"""The road model: OSRM's figures where the roads are, the straight line where they are not.

- A point whose nearest road (OSRM's snapped distance) is farther than ``max_snap_m`` is off
  the road network (another city than the dataset's, the sea): every leg touching it is
  measured by the straight-line model and marked ``straight``.
- A pair OSRM has no route for (parts of the road graph that are not connected, common at the
  edges of an extract) is marked ``unreachable``; its cells hold ``UNREACHABLE`` so a solver
  avoids it, and estimates report it instead of a number.
- Figures are kept in a day cache, so planning's matrix, the estimates of its routes and the
  re-plans of the same day ask OSRM only about points it has not seen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

from routekeeper.travel.base import (
    UNREACHABLE,
    Drive,
    Leg,
    LonLat,
    TravelMatrix,
    lonlat_array,
)
from routekeeper.travel.cache import DayMatrixCache
from routekeeper.travel.osrm import OsrmModel
from routekeeper.travel.straight import StraightLineModel

log = logging.getLogger(__name__)

# osrm-routed's default --max-viaroute-size: the most points one route request may hold.
_MAX_ROUTE_POINTS = 500


def _today() -> date:
    return datetime.now(UTC).date()


class RoadModel:
    """Travel on the roads of an OSRM server, falling back per leg to the straight line."""

    kind = "road"

    def __init__(self, osrm: OsrmModel, straight: StraightLineModel, *, max_snap_m: float = 500.0,
                 cache_points: int = 2000, today: Callable[[], date] = _today) -> None:
        """Combine an OSRM client and the straight-line model used off the road network."""
        if not max_snap_m > 0:
            raise ValueError("max_snap_m must be positive")
        self.osrm = osrm
        self.straight = straight
        self.max_snap_m = max_snap_m
        self.cache = DayMatrixCache(cache_points)
        self._today = today
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RoadModel({self.osrm!r}, max_snap_m={self.max_snap_m})"

    def _fetch(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> tuple[
            npt.NDArray[np.float64], npt.NDArray[np.float64],
            npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        raw = self.osrm.table(origins, destinations)
        return raw.distance_m, raw.duration_s, raw.origin_snap_m, raw.destination_snap_m

    def _road(self, points: Sequence[LonLat]) -> tuple[
            npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Square road metres, seconds (NaN: no route) and snap metres among points."""
        with self._lock:
            found = self.cache.figures(points, today=self._today(), fetch=self._fetch)
            if found is not None:
                index, distance, duration, snap = found
                cells = np.ix_(index, index)
                return (distance[cells].astype(np.float64), duration[cells].astype(np.float64),
                        snap[index])
        # More points than the cache holds: ask OSRM directly, once.
        metres, seconds, snapped, _ = self._fetch(points, points)
        return metres, seconds, snapped

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        """Road metres and seconds from every origin to every destination, with the masks."""
        o, d = lonlat_array(origins), lonlat_array(destinations)
        if len(o) == 0 or len(d) == 0:
            empty = np.zeros((len(o), len(d)), dtype=np.int64)
            return TravelMatrix(distance_m=empty, duration_s=empty.copy())
        same = len(o) == len(d) and bool(np.array_equal(o, d))
        points = o if same else np.concatenate([o, d])
        as_tuples = [(float(lon), float(lat)) for lon, lat in points.tolist()]
        metres, seconds, snapped = self._road(as_tuples)
        rows = np.arange(len(o))
        cols = rows if same else np.arange(len(o), len(o) + len(d))
        metres, seconds = metres[np.ix_(rows, cols)], seconds[np.ix_(rows, cols)]
        off_road = snapped > self.max_snap_m
        straight = off_road[rows][:, np.newaxis] | off_road[cols][np.newaxis, :]
        if straight.any():
            line = self.straight.matrix(origins, destinations)
            metres = np.where(straight, line.distance_m, metres)
            seconds = np.where(straight, line.duration_s, seconds)
        missing = np.isnan(metres) | np.isnan(seconds)
        return TravelMatrix(
            distance_m=np.rint(np.where(missing, UNREACHABLE, metres)).astype(np.int64),
            duration_s=np.rint(np.where(missing, UNREACHABLE, seconds)).astype(np.int64),
            unreachable=missing if missing.any() else None,
            straight=straight if straight.any() else None,
            destination_snap_m=snapped[cols],
        )

    def leg(self, origin: LonLat, destination: LonLat) -> Leg:
        """The leg between two points: the matrix's figures with the road's geometry."""
        cell = self.matrix([origin, destination], [origin, destination])
        return Leg(distance_m=int(cell.distance_m[0, 1]), duration_s=int(cell.duration_s[0, 1]),
                   geometry=self.drive([origin, destination], cell).geometry,
                   unreachable=cell.is_unreachable(0, 1), straight=cell.is_straight(0, 1))

    def path(self, points: Sequence[LonLat]) -> list[LonLat]:
        """The line through points in order: along the roads where it can, else straight."""
        if len(points) < 2:
            return [(float(p[0]), float(p[1])) for p in points]
        return self.drive(points).geometry

    def drive(self, points: Sequence[LonLat], cells: TravelMatrix | None = None) -> Drive:
        """The drive through points in order, as OSRM's route service drives it.

        Runs of consecutive road legs are one route request each, so their figures and line
        are OSRM's ``/route`` for those stops (no U-turn at a stop, as the car profile drives
        through waypoints); other legs keep the matrix's figures and a straight segment.
        """
        stops = [(float(p[0]), float(p[1])) for p in points]
        if cells is None:
            cells = self.matrix(stops, stops)
        pairs = range(len(stops) - 1)
        metres = [int(cells.distance_m[i, i + 1]) for i in pairs]
        seconds = [int(cells.duration_s[i, i + 1]) for i in pairs]
        line: list[LonLat] = stops[:1]
        run: list[int] = []  # indexes of the points of the current run of road legs

        def flush() -> None:
            if len(run) >= 2:
                figures, geometry = self._road_run([stops[i] for i in run])
                line.extend(geometry)
                for offset, (m, s) in enumerate(figures or []):
                    metres[run[0] + offset], seconds[run[0] + offset] = m, s
            run.clear()

        for i in pairs:
            road = not (cells.is_unreachable(i, i + 1) or cells.is_straight(i, i + 1))
            if road and stops[i] != stops[i + 1]:
                if not run:
                    run.append(i)
                run.append(i + 1)
                continue
            flush()
            line.append(stops[i + 1])
        flush()
        # Consecutive duplicates come from joins and from stops at the same place.
        geometry = [p for j, p in enumerate(line) if j == 0 or p != line[j - 1]]
        return Drive(metres=metres, seconds=seconds, geometry=geometry)

    def _road_run(self, run: list[LonLat]) -> tuple[list[tuple[int, int]] | None, list[LonLat]]:
        """OSRM's legs and line through run (2+ points), or None for the legs if it has none."""
        line: list[LonLat] = []
        figures: list[tuple[int, int]] | None = []
        for start in range(0, len(run) - 1, _MAX_ROUTE_POINTS - 1):
            chunk = run[start:start + _MAX_ROUTE_POINTS]
            path = self.osrm.route(chunk)
            if path is None:
                # Each leg has a route (the table says so) but not all of them in one drive
                # without turning at a stop: keep the table's figures, draw these straight.
                figures = None
                line.extend(chunk[1:])
                continue
            if figures is not None:
                figures.extend(path.legs)
            line.extend(path.geometry)
        # The road geometry starts and ends where the points snapped; join it to the stops.
        line.append(run[-1])
        return figures, line

