"""The travel model interface: distances, durations and leg geometry between points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

# A position as GeoJSON orders it: (longitude, latitude) in degrees.
LonLat = tuple[float, float]

TRAVEL_FAILURE_MESSAGE = "Travel time calculation failed for this planning attempt."


class TravelError(RuntimeError):
    """Travel times could not be computed (provider down, timed out or answered garbage)."""


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """Distances in metres and durations in seconds from each origin (row) to each destination."""

    distance_m: npt.NDArray[np.int64]
    duration_s: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg between two points with its geometry as a list of (lon, lat)."""

    distance_m: int
    duration_s: int
    geometry: list[LonLat]


class TravelModel(Protocol):
    """What routes, planning and tracking need to know about travelling between points."""

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        """Return the travel matrix from every origin to every destination."""
        ...

    def leg(self, origin: LonLat, destination: LonLat) -> Leg:
        """Return one leg with its geometry."""
        ...


def lonlat_array(points: Sequence[LonLat] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return points as an (n, 2) float64 array of (lon, lat), rejecting impossible positions."""
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError("points must be a sequence of (longitude, latitude) pairs")
    if not np.isfinite(array).all():
        raise ValueError("coordinates must be finite numbers")
    # Out-of-range values are garbage (often a swapped lat/lon); fail loudly rather than wrap them.
    if (np.abs(array[:, 0]) > 180.0).any() or (np.abs(array[:, 1]) > 90.0).any():
        raise ValueError("longitude must be within [-180, 180] and latitude within [-90, 90]")
    return array
