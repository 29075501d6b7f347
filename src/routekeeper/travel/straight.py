"""The straight-line travel model: great-circle distance stretched by a detour factor."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from routekeeper.core.geo import EARTH_RADIUS_M, haversine_m
from routekeeper.travel.base import (
    NOT_FINITE,
    OUT_OF_RANGE,
    Leg,
    LonLat,
    TravelMatrix,
    lonlat_array,
)

__all__ = ["EARTH_RADIUS_M", "StraightLineModel", "haversine_m", "haversine_matrix_m"]

# Mean Earth radius (IUGG), the usual choice for a spherical model.

# Matrices are computed a band of rows at a time so the float scratch space stays around 8 MB
# whatever the matrix size; only the int64 results grow with n * m.
_BLOCK_CELLS = 1 << 20

FloatArray = npt.NDArray[np.float64]


class _HalfAngles:
    """Sines and cosines of half the longitudes and latitudes of some points, in radians."""

    __slots__ = ("cos_half_lat", "cos_half_lon", "cos_lat", "sin_half_lat", "sin_half_lon")

    def __init__(self, points: FloatArray) -> None:
        half_lon = np.radians(points[:, 0]) / 2
        half_lat = np.radians(points[:, 1]) / 2
        self.sin_half_lon = np.sin(half_lon)
        self.cos_half_lon = np.cos(half_lon)
        self.sin_half_lat = np.sin(half_lat)
        self.cos_half_lat = np.cos(half_lat)
        self.cos_lat = np.cos(2 * half_lat)


def _sin_half_difference(
    sin_x: FloatArray, cos_x: FloatArray, sin_y: FloatArray, cos_y: FloatArray, out: FloatArray
) -> None:
    """Write sin((x_i - y_j) / 2) into out from the sines and cosines of the half angles."""
    # sin(p - q) = sin p cos q - cos p sin q needs no trigonometry on the n * m cells, and unlike
    # 1 - cos(d) it does not cancel catastrophically for points a few metres apart.
    np.multiply.outer(sin_x, cos_y, out=out)
    out -= np.multiply.outer(cos_x, sin_y)


def _central_angle_blocks(
    origins: FloatArray, destinations: FloatArray
) -> Iterator[tuple[slice, FloatArray]]:
    """Yield (row slice, central angles in radians) bands; each band's buffer is reused."""
    n_rows, n_cols = len(origins), len(destinations)
    if n_rows == 0 or n_cols == 0:
        return
    o, d = _HalfAngles(origins), _HalfAngles(destinations)
    band_rows = max(1, _BLOCK_CELLS // n_cols)
    h_buffer = np.empty((min(band_rows, n_rows), n_cols))
    lon_buffer = np.empty_like(h_buffer)
    for start in range(0, n_rows, band_rows):
        rows = slice(start, min(start + band_rows, n_rows))
        h = h_buffer[: rows.stop - rows.start]
        lon_term = lon_buffer[: rows.stop - rows.start]
        _sin_half_difference(
            o.sin_half_lat[rows], o.cos_half_lat[rows], d.sin_half_lat, d.cos_half_lat, h
        )
        np.square(h, out=h)
        _sin_half_difference(
            o.sin_half_lon[rows], o.cos_half_lon[rows], d.sin_half_lon, d.cos_half_lon, lon_term
        )
        np.square(lon_term, out=lon_term)
        lon_term *= o.cos_lat[rows, np.newaxis]
        lon_term *= d.cos_lat[np.newaxis, :]
        h += lon_term
        np.clip(h, 0.0, 1.0, out=h)
        np.sqrt(h, out=h)
        np.arcsin(h, out=h)
        h *= 2.0
        yield rows, h


def _checked(point: LonLat) -> tuple[float, float]:
    """Half a point's longitude and latitude in radians, refused as ``lonlat_array`` refuses
    impossible positions."""
    lon, lat = float(point[0]), float(point[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(NOT_FINITE)
    if abs(lon) > 180.0 or abs(lat) > 90.0:
        raise ValueError(OUT_OF_RANGE)
    return math.radians(lon) / 2, math.radians(lat) / 2


def haversine_matrix_m(
    origins: Sequence[LonLat] | npt.ArrayLike, destinations: Sequence[LonLat] | npt.ArrayLike
) -> FloatArray:
    """Return the (n, m) float64 great-circle metres from each origin to each destination."""
    o, d = lonlat_array(origins), lonlat_array(destinations)
    distance_m = np.empty((len(o), len(d)), dtype=np.float64)
    for rows, angle in _central_angle_blocks(o, d):
        np.multiply(angle, EARTH_RADIUS_M, out=distance_m[rows])
    return distance_m


class StraightLineModel:
    """Travel along the great circle, lengthened by a detour factor, at a constant speed."""

    def __init__(self, detour_factor: float = 1.3, speed_kmh: float = 30.0) -> None:
        """Configure the detour factor (road distance / great-circle distance) and the speed."""
        if not (math.isfinite(detour_factor) and detour_factor >= 1.0):
            raise ValueError("detour_factor must be a finite number >= 1")
        if not (math.isfinite(speed_kmh) and speed_kmh > 0.0):
            raise ValueError("speed_kmh must be a finite number > 0")
        self.detour_factor = detour_factor
        self.speed_kmh = speed_kmh
        self._speed_mps = speed_kmh / 3.6

    def __repr__(self) -> str:
        return f"StraightLineModel(detour_factor={self.detour_factor}, speed_kmh={self.speed_kmh})"

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        """Return rounded int64 road metres and seconds from every origin to every destination."""
        o, d = lonlat_array(origins), lonlat_array(destinations)
        distance_m = np.empty((len(o), len(d)), dtype=np.int64)
        duration_s = np.empty((len(o), len(d)), dtype=np.int64)
        for rows, angle in _central_angle_blocks(o, d):
            # Both figures come from the unrounded road distance so rounding errors don't compound.
            angle *= EARTH_RADIUS_M * self.detour_factor
            distance_m[rows] = np.rint(angle)
            angle /= self._speed_mps
            np.rint(angle, out=angle)
            duration_s[rows] = angle
        return TravelMatrix(distance_m=distance_m, duration_s=duration_s)

    def pairs(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]
              ) -> list[tuple[int, int]]:
        """Return the rounded metres and seconds from each origin to the destination of its
        index: :meth:`matrix`'s diagonal cells, computed in plain floats (for a handful of
        legs numpy's set-up costs far more than the arithmetic). The steps are the matrix's
        own, in the same order; the sines and cosines come from the C library rather than
        numpy's, which may differ in the last bit: a cell can then differ by a metre or a
        second in the rare case that its value lies that close to a half."""
        if len(origins) != len(destinations):
            raise ValueError("pairs needs as many origins as destinations")
        scale = EARTH_RADIUS_M * self.detour_factor
        cells: list[tuple[int, int]] = []
        for origin, destination in zip(origins, destinations, strict=True):
            o_lon, o_lat = _checked(origin)
            d_lon, d_lat = _checked(destination)
            sin_lat = (math.sin(o_lat) * math.cos(d_lat) - math.cos(o_lat) * math.sin(d_lat))
            sin_lon = (math.sin(o_lon) * math.cos(d_lon) - math.cos(o_lon) * math.sin(d_lon))
            h = sin_lat * sin_lat + sin_lon * sin_lon * math.cos(2 * o_lat) \
                * math.cos(2 * d_lat)
            road_m = 2.0 * math.asin(math.sqrt(min(1.0, max(0.0, h)))) * scale
            cells.append((round(road_m), round(road_m / self._speed_mps)))
        return cells

    def leg(self, origin: LonLat, destination: LonLat) -> Leg:
        """Return the leg between two points with the straight segment as its geometry."""
        # Going through matrix() guarantees a leg always agrees with the matrix cell exactly.
        cell = self.matrix([origin], [destination])
        return Leg(
            distance_m=int(cell.distance_m[0, 0]),
            duration_s=int(cell.duration_s[0, 0]),
            geometry=[
                (float(origin[0]), float(origin[1])),
                (float(destination[0]), float(destination[1])),
            ],
        )
