"""Property tests of the great-circle helpers, the straight-line model and OSRM table blocks."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from routekeeper.travel import (
    EARTH_RADIUS_M,
    StraightLineModel,
    haversine_m,
    haversine_matrix_m,
    table_blocks,
)
from routekeeper.travel.base import travel_pairs

HALF_CIRCUMFERENCE_M = math.pi * EARTH_RADIUS_M

# asin loses precision near 1 (nearly antipodal points), worth up to ~0.1 m on Earth; 1 m of
# slack keeps the properties about geometry rather than floating-point noise.
SLACK_M = 1.0

longitudes = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
latitudes = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False)
points = st.tuples(longitudes, latitudes)
models = st.builds(
    StraightLineModel,
    detour_factor=st.floats(min_value=1.0, max_value=3.0),
    speed_kmh=st.floats(min_value=1.0, max_value=130.0),
)


@given(points, points)
def test_distance_is_non_negative_and_bounded(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    """A great-circle distance lies between 0 and half the circumference."""
    distance_m = haversine_m(a, b)
    assert 0.0 <= distance_m <= HALF_CIRCUMFERENCE_M + SLACK_M


@given(points, points)
def test_distance_is_symmetric(a: tuple[float, float], b: tuple[float, float]) -> None:
    """Going from a to b is as far as going from b to a."""
    assert math.isclose(haversine_m(a, b), haversine_m(b, a), rel_tol=1e-12, abs_tol=1e-6)


@given(points)
def test_distance_to_itself_is_zero(a: tuple[float, float]) -> None:
    """A point is at distance zero from itself."""
    assert haversine_m(a, a) == 0.0
    assert haversine_matrix_m([a], [a])[0, 0] == 0.0


@given(points, points, points)
def test_triangle_inequality(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]
) -> None:
    """Going from a to c directly is never longer than going through b."""
    d = haversine_matrix_m([a, b, c], [a, b, c])
    assert d[0, 2] <= d[0, 1] + d[1, 2] + SLACK_M
    assert haversine_m(a, c) <= haversine_m(a, b) + haversine_m(b, c) + SLACK_M


@given(st.lists(points, min_size=1, max_size=8), st.lists(points, min_size=1, max_size=8))
def test_matrix_agrees_with_scalar(
    origins: list[tuple[float, float]], destinations: list[tuple[float, float]]
) -> None:
    """The vectorised matrix equals the scalar helper for any points on Earth."""
    matrix_m = haversine_matrix_m(origins, destinations)
    expected_m = np.array([[haversine_m(o, d) for d in destinations] for o in origins])
    assert np.allclose(matrix_m, expected_m, rtol=1e-9, atol=SLACK_M)


@given(models, st.lists(points, min_size=1, max_size=10))
def test_model_matrix_symmetric_non_negative_zero_diagonal(
    model: StraightLineModel, stops: list[tuple[float, float]]
) -> None:
    """A stops-to-stops matrix is symmetric, non-negative and zero on the diagonal."""
    matrix = model.matrix(stops, stops)
    for array in (matrix.distance_m, matrix.duration_s):
        assert np.array_equal(array, array.T)
        assert (array >= 0).all()
        assert not np.diagonal(array).any()


@given(models, points, points)
def test_model_leg_is_rounded_detoured_distance(
    model: StraightLineModel, a: tuple[float, float], b: tuple[float, float]
) -> None:
    """A leg is the detoured great-circle distance and its travel time, rounded to units."""
    leg = model.leg(a, b)
    road_m = haversine_m(a, b) * model.detour_factor
    assert abs(leg.distance_m - road_m) <= 0.5 + SLACK_M
    assert abs(leg.duration_s - road_m / (model.speed_kmh / 3.6)) <= 0.5 + SLACK_M
    matrix = model.matrix([a], [b])
    assert (leg.distance_m, leg.duration_s) == (matrix.distance_m[0, 0], matrix.duration_s[0, 0])


@given(
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=2, max_value=120),
)
def test_table_blocks_cover_every_cell_once_within_the_limit(
    n_sources: int, n_destinations: int, max_table_size: int
) -> None:
    """OSRM table blocks tile the matrix exactly and never exceed max_table_size coordinates."""
    covered = np.zeros((n_sources, n_destinations), dtype=np.int64)
    for rows, cols in table_blocks(n_sources, n_destinations, max_table_size):
        assert 0 < (rows.stop - rows.start) + (cols.stop - cols.start) <= max_table_size
        covered[rows, cols] += 1
    assert (covered == 1).all()


@given(models, st.lists(st.tuples(points, points), min_size=1, max_size=20))
def test_pairs_are_the_matrix_diagonal(model: StraightLineModel,
                                       legs: list[tuple[tuple[float, float],
                                                        tuple[float, float]]]) -> None:
    """A model's pairs (ETAs measure a route's legs with them) are its matrix's diagonal
    cells, and ``travel_pairs`` gives them. The same steps in plain floats: only a cell
    whose value lies within the last bit of a half may round the other way (the C library's
    sines against numpy's), by one metre or second."""
    origins = [origin for origin, _ in legs]
    destinations = [destination for _, destination in legs]
    matrix = model.matrix(origins, destinations)
    pairs = model.pairs(origins, destinations)
    assert travel_pairs(model, origins, destinations) == pairs
    for i, (metres, seconds) in enumerate(pairs):
        assert abs(metres - int(matrix.distance_m[i, i])) <= 1
        assert abs(seconds - int(matrix.duration_s[i, i])) <= 1
