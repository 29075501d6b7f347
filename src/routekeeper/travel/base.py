"""The travel model interface: distances, durations and leg geometry between points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

# A position as GeoJSON orders it: (longitude, latitude) in degrees.
LonLat = tuple[float, float]

TRAVEL_FAILURE_MESSAGE = "Travel time calculation failed for this planning attempt."

# What an unreachable cell holds (metres and seconds): far beyond any shift or route limit, so
# a solver that reads only the numbers still never takes that leg, yet small enough that sums
# of a few thousand of them stay exact in int64. Code that reports figures reads the mask.
UNREACHABLE = 1_000_000_000


class TravelError(RuntimeError):
    """Travel times could not be computed (provider down, timed out or answered garbage)."""


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """Distances in metres and durations in seconds from each origin (row) to each destination."""

    distance_m: npt.NDArray[np.int64]
    duration_s: npt.NDArray[np.int64]
    # Cells with no road between the two points (they hold UNREACHABLE); None when all have one.
    unreachable: npt.NDArray[np.bool_] | None = None
    # Cells measured by the straight-line model because a point is off the road network.
    straight: npt.NDArray[np.bool_] | None = None
    # Metres from each destination to the road it snapped to (road models only).
    destination_snap_m: npt.NDArray[np.float64] | None = None

    def is_unreachable(self, row: int, col: int) -> bool:
        """Whether there is no road from origin row to destination col."""
        return self.unreachable is not None and bool(self.unreachable[row, col])

    def is_straight(self, row: int, col: int) -> bool:
        """Whether the cell is a straight-line figure rather than a road one."""
        return self.straight is not None and bool(self.straight[row, col])


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg between two points with its geometry as a list of (lon, lat)."""

    distance_m: int
    duration_s: int
    geometry: list[LonLat]
    # No road connects the two points (the figures are UNREACHABLE, the geometry straight).
    unreachable: bool = False
    # Measured by the straight-line model (a point is off the road network).
    straight: bool = False


def matrix_of(distance_m: npt.NDArray[np.float64],
              duration_s: npt.NDArray[np.float64]) -> TravelMatrix:
    """Round float metres and seconds (NaN where there is no route) into a TravelMatrix."""
    missing = np.isnan(distance_m) | np.isnan(duration_s)
    distance = np.rint(np.where(missing, UNREACHABLE, distance_m)).astype(np.int64)
    duration = np.rint(np.where(missing, UNREACHABLE, duration_s)).astype(np.int64)
    return TravelMatrix(distance_m=distance, duration_s=duration,
                        unreachable=missing if missing.any() else None)


class TravelModel(Protocol):
    """What routes, planning and tracking need to know about travelling between points."""

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        """Return the travel matrix from every origin to every destination."""
        ...

    def leg(self, origin: LonLat, destination: LonLat) -> Leg:
        """Return one leg with its geometry."""
        ...


@dataclass(frozen=True, slots=True)
class Drive:
    """A drive through some points: each leg's metres and seconds, and the line driven."""

    metres: list[int]
    seconds: list[int]
    geometry: list[LonLat]


@runtime_checkable
class DriveModel(Protocol):
    """A travel model that drives through several points the way its engine routes them."""

    def drive(self, points: Sequence[LonLat], cells: TravelMatrix | None = None) -> Drive:
        """Return each leg's figures and the line through points (cells: their matrix)."""
        ...


@runtime_checkable
class PathModel(Protocol):
    """A travel model that can draw the line travelled through several points."""

    def path(self, points: Sequence[LonLat]) -> list[LonLat]:
        """Return the line through points in order."""
        ...


def travel_path(travel: TravelModel, points: Sequence[LonLat]) -> list[LonLat]:
    """The line travelled through points: the model's own (roads) or straight segments."""
    if isinstance(travel, PathModel) and len(points) >= 2:
        return travel.path(points)
    return [(float(p[0]), float(p[1])) for p in points]


class PairsModel(Protocol):
    """A travel model that measures single legs without a whole matrix."""

    def pairs(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]
              ) -> list[tuple[int, int]]:
        """Return the metres and seconds from each origin to the destination of its index."""
        ...


def travel_pairs(travel: TravelModel, origins: Sequence[LonLat],
                 destinations: Sequence[LonLat]) -> list[tuple[int, int] | None]:
    """The metres and seconds from each origin to the destination of the same index (None
    where no road leads there), in one call: the model's own pairs, or its matrix's diagonal.

    A route's ETAs need only its legs in sequence; its matrix holds n times as many cells,
    and for a handful of stops the straight-line model's numpy set-up cost more than the
    arithmetic (200 us a matrix of 12 stops, most of an ETA evaluation).
    """
    # Looked up rather than ``isinstance(travel, PairsModel)``: a runtime-checkable
    # protocol's check walks its members on every call, half of this function's time for
    # the straight-line model (py-spy, 2,000 phones).
    if getattr(travel, "pairs", None) is not None:
        return list(cast(PairsModel, travel).pairs(origins, destinations))
    matrix = travel.matrix(origins, destinations)
    return [None if matrix.is_unreachable(i, i)
            else (int(matrix.distance_m[i, i]), int(matrix.duration_s[i, i]))
            for i in range(min(len(origins), len(destinations)))]


# What an impossible position is refused with, whichever way the points come in.
NOT_FINITE = "coordinates must be finite numbers"
OUT_OF_RANGE = "longitude must be within [-180, 180] and latitude within [-90, 90]"


def lonlat_array(points: Sequence[LonLat] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return points as an (n, 2) float64 array of (lon, lat), rejecting impossible positions."""
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError("points must be a sequence of (longitude, latitude) pairs")
    if not np.isfinite(array).all():
        raise ValueError(NOT_FINITE)
    # Out-of-range values are garbage (often a swapped lat/lon); fail loudly rather than wrap them.
    if (np.abs(array[:, 0]) > 180.0).any() or (np.abs(array[:, 1]) > 90.0).any():
        raise ValueError(OUT_OF_RANGE)
    return array
