"""Geohash cells (the ``destination_geohash`` filter): decode a hash to its bounding box.

A geohash interleaves longitude and latitude bisections, longitude first, five bits per
base-32 character; the cell of a hash is the box those bisections leave. Encoding is here
too so the decoding can be checked against it (tests/core/test_geohash.py).
"""

from __future__ import annotations

from typing import NamedTuple

ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
MAX_LENGTH = 12  # 12 characters are a few centimetres; more adds nothing a float can hold


class Cell(NamedTuple):
    """The box of a geohash, in degrees: west and south inclusive, east and north exclusive
    (inclusive at the world's edge, 180 and 90)."""

    west: float
    south: float
    east: float
    north: float


def decode(geohash: str) -> Cell:
    """The cell of ``geohash`` (case-insensitive); ``ValueError`` when it is not one."""
    text = geohash.strip().lower()
    if not 1 <= len(text) <= MAX_LENGTH or any(c not in _VALUE for c in text):
        raise ValueError(f"Not a valid geohash (1-{MAX_LENGTH} of {ALPHABET}).")
    west, east, south, north = -180.0, 180.0, -90.0, 90.0
    is_lon = True
    for char in text:
        bits = _VALUE[char]
        for shift in range(4, -1, -1):
            upper = (bits >> shift) & 1
            if is_lon:
                middle = (west + east) / 2
                west, east = (middle, east) if upper else (west, middle)
            else:
                middle = (south + north) / 2
                south, north = (middle, north) if upper else (south, middle)
            is_lon = not is_lon
    return Cell(west, south, east, north)


def encode(lon: float, lat: float, length: int) -> str:
    """The geohash of ``length`` characters whose cell holds (lon, lat)."""
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError("length out of range")
    west, east, south, north = -180.0, 180.0, -90.0, 90.0
    chars: list[str] = []
    bits, count, is_lon = 0, 0, True
    while len(chars) < length:
        if is_lon:
            middle = (west + east) / 2
            upper = lon >= middle
            west, east = (middle, east) if upper else (west, middle)
        else:
            middle = (south + north) / 2
            upper = lat >= middle
            south, north = (middle, north) if upper else (south, middle)
        bits = (bits << 1) | int(upper)
        count += 1
        is_lon = not is_lon
        if count == 5:
            chars.append(ALPHABET[bits])
            bits, count = 0, 0
    return "".join(chars)


def contains(cell: Cell, lon: float, lat: float) -> bool:
    """Whether (lon, lat) lies in ``cell`` (half-open, closed at the world's edge)."""
    in_lon = cell.west <= lon < cell.east or (cell.east == 180.0 and lon == 180.0)
    in_lat = cell.south <= lat < cell.north or (cell.north == 90.0 and lat == 90.0)
    return in_lon and in_lat
