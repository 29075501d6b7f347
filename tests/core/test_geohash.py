"""Geohash decoding: known cells and round trips with encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routekeeper.core.geohash import contains, decode, encode


def test_known_cell() -> None:
    """``u33db`` is the cell over central Berlin (published value of the reference encoder)."""
    cell = decode("u33db")
    assert cell.west == pytest.approx(13.359375) and cell.east == pytest.approx(13.403320)
    assert cell.south == pytest.approx(52.514648) and cell.north == pytest.approx(52.558594)
    assert encode(13.38, 52.52, 5) == "u33db"


@pytest.mark.parametrize("bad", ["", "a", "u33dbi", "u33dbl", "u33dbo", "0" * 13, "u3 3"])
def test_bad_hashes_are_refused(bad: str) -> None:
    """Letters outside the base-32 alphabet (a, i, l, o) and over-long hashes are errors."""
    with pytest.raises(ValueError):
        decode(bad)


@given(lon=st.floats(-180, 179.999999), lat=st.floats(-90, 89.999999),
       length=st.integers(1, 12))
def test_a_point_lies_in_the_cell_of_its_hash(lon: float, lat: float, length: int) -> None:
    """Encoding then decoding gives a cell that holds the point, whatever the case."""
    cell = decode(encode(lon, lat, length))
    assert contains(cell, lon, lat)
    assert decode(encode(lon, lat, length).upper()) == cell
