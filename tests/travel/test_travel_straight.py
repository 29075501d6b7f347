"""Tests of the straight-line travel model and the great-circle helpers."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from routekeeper.travel import (
    EARTH_RADIUS_M,
    Leg,
    StraightLineModel,
    TravelMatrix,
    haversine_m,
    haversine_matrix_m,
)

PARIS = (2.3522, 48.8566)
LONDON = (-0.1276, 51.5072)


def city_points(n: int, seed: int = 7) -> list[tuple[float, float]]:
    """Return n reproducible random points in a Paris-sized box."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(2.25, 2.42, n)
    lat = rng.uniform(48.81, 48.90, n)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def test_one_degree_of_latitude() -> None:
    """One degree of latitude is R * pi / 180, about 111.195 km, at any longitude."""
    expected_m = EARTH_RADIUS_M * math.pi / 180
    assert expected_m == pytest.approx(111_195.08, abs=0.01)
    assert haversine_m((0.0, 0.0), (0.0, 1.0)) == pytest.approx(expected_m, rel=1e-12)
    assert haversine_m((-73.9, 40.0), (-73.9, 41.0)) == pytest.approx(expected_m, rel=1e-12)


def test_paris_london() -> None:
    """Paris to London is about 343.5 km along the great circle."""
    assert haversine_m(PARIS, LONDON) == pytest.approx(343_530, abs=50)


def test_quarter_and_half_circumference() -> None:
    """A quarter of the equator and antipodal points give pi R / 2 and pi R."""
    assert haversine_m((0.0, 0.0), (90.0, 0.0)) == pytest.approx(math.pi * EARTH_RADIUS_M / 2)
    assert haversine_m((0.0, 0.0), (180.0, 0.0)) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m((10.0, 90.0), (-170.0, -90.0)) == pytest.approx(math.pi * EARTH_RADIUS_M)


def test_antimeridian_is_crossed_the_short_way() -> None:
    """Points either side of the 180th meridian are one degree apart, not 359."""
    one_degree_m = EARTH_RADIUS_M * math.pi / 180
    assert haversine_m((179.5, 0.0), (-179.5, 0.0)) == pytest.approx(one_degree_m)
    matrix_m = haversine_matrix_m([(179.5, 0.0)], [(-179.5, 0.0)])
    assert matrix_m[0, 0] == pytest.approx(one_degree_m)


def test_haversine_matrix_matches_scalar() -> None:
    """The vectorised matrix agrees with the scalar helper cell by cell."""
    origins, destinations = city_points(30, seed=1), city_points(40, seed=2)
    matrix_m = haversine_matrix_m(origins, destinations)
    assert matrix_m.shape == (30, 40)
    assert matrix_m.dtype == np.float64
    for i, origin in enumerate(origins):
        for j, destination in enumerate(destinations):
            assert matrix_m[i, j] == pytest.approx(haversine_m(origin, destination), abs=1e-6)


def test_haversine_matrix_is_precise_for_nearby_points() -> None:
    """Points a centimetre apart come out a centimetre apart (no cancellation error)."""
    one_cm_in_degrees = 0.01 / (EARTH_RADIUS_M * math.pi / 180)
    a, b = (2.35, 48.85), (2.35, 48.85 + one_cm_in_degrees)
    assert haversine_matrix_m([a], [b])[0, 0] == pytest.approx(0.01, rel=1e-6)
    assert haversine_m(a, b) == pytest.approx(0.01, rel=1e-6)


def test_detour_and_speed_arithmetic() -> None:
    """Distance is great-circle times the detour factor and duration that distance at the speed."""
    great_circle_m = haversine_m(PARIS, LONDON)
    leg = StraightLineModel(detour_factor=1.3, speed_kmh=30.0).leg(PARIS, LONDON)
    assert leg.distance_m == round(great_circle_m * 1.3) == 446_589
    assert leg.duration_s == round(great_circle_m * 1.3 / (30 / 3.6)) == 53_591


def test_custom_detour_and_speed() -> None:
    """Without detour at 36 km/h (10 m/s) one degree of latitude takes 11,120 s."""
    leg = StraightLineModel(detour_factor=1.0, speed_kmh=36.0).leg((0.0, 0.0), (0.0, 1.0))
    assert leg == Leg(distance_m=111_195, duration_s=11_120, geometry=[(0.0, 0.0), (0.0, 1.0)])


def test_defaults_match_routing_settings() -> None:
    """The default model is 1.3 detour at 30 km/h, as RoutingSettings says."""
    model = StraightLineModel()
    assert (model.detour_factor, model.speed_kmh) == (1.3, 30.0)


def test_leg_geometry_is_the_straight_segment() -> None:
    """A straight-line leg's geometry is exactly [origin, destination]."""
    leg = StraightLineModel().leg(PARIS, LONDON)
    assert leg.geometry == [PARIS, LONDON]
    assert all(isinstance(value, float) for point in leg.geometry for value in point)


def test_matrix_equals_legs() -> None:
    """Every matrix cell equals the leg computed for that pair on its own."""
    model = StraightLineModel()
    origins, destinations = city_points(12, seed=3), city_points(9, seed=4)
    matrix = model.matrix(origins, destinations)
    for i, origin in enumerate(origins):
        for j, destination in enumerate(destinations):
            leg = model.leg(origin, destination)
            assert (matrix.distance_m[i, j], matrix.duration_s[i, j]) == (
                leg.distance_m,
                leg.duration_s,
            )


def test_matrix_types_and_shape() -> None:
    """The matrix is int64 metres and seconds shaped origins x destinations."""
    matrix = StraightLineModel().matrix(city_points(5), city_points(3, seed=9))
    assert isinstance(matrix, TravelMatrix)
    for array in (matrix.distance_m, matrix.duration_s):
        assert array.dtype == np.int64
        assert array.shape == (5, 3)


def test_matrix_is_symmetric_with_zero_diagonal() -> None:
    """A points-to-themselves matrix is exactly symmetric with zeros on the diagonal."""
    points = city_points(200)
    matrix = StraightLineModel().matrix(points, points)
    for array in (matrix.distance_m, matrix.duration_s):
        assert np.array_equal(array, array.T)
        assert not np.diagonal(array).any()
        assert (array[~np.eye(len(points), dtype=bool)] > 0).all()


def test_matrix_spans_several_row_bands() -> None:
    """A matrix computed in several row bands equals the scalar values in every band."""
    # 600 x 2,000 cells exceed one 2**20-cell band, so this crosses band boundaries.
    origins, destinations = city_points(600, seed=5), city_points(2_000, seed=6)
    matrix = StraightLineModel(detour_factor=1.0, speed_kmh=36.0).matrix(origins, destinations)
    for i in (0, 523, 524, 599):
        for j in (0, 1_999):
            expected_m = haversine_m(origins[i], destinations[j])
            assert matrix.distance_m[i, j] == round(expected_m)
            assert abs(matrix.duration_s[i, j] - expected_m / 10) <= 0.5 + 1e-9


def test_empty_inputs_give_empty_matrices() -> None:
    """No origins or no destinations give correctly shaped empty matrices."""
    model = StraightLineModel()
    assert model.matrix([], city_points(3)).distance_m.shape == (0, 3)
    assert model.matrix(city_points(3), []).duration_s.shape == (3, 0)
    assert haversine_matrix_m([], []).shape == (0, 0)


def test_numpy_input_is_accepted() -> None:
    """An (n, 2) numpy array of points gives the same matrix as a list of tuples."""
    points = city_points(10)
    model = StraightLineModel()
    array = np.array(points)
    # The protocol promises sequences of pairs; arrays work too because lonlat_array converts.
    from_array = model.matrix(array, array)  # type: ignore[arg-type]
    from_list = model.matrix(points, points)
    assert np.array_equal(from_array.distance_m, from_list.distance_m)


@pytest.mark.parametrize(
    "bad_point",
    [(2.35, 95.0), (181.0, 48.0), (float("nan"), 48.0), (2.35, float("inf"))],
)
def test_impossible_coordinates_are_rejected(bad_point: tuple[float, float]) -> None:
    """Out-of-range or non-finite coordinates raise ValueError instead of a bogus distance."""
    with pytest.raises(ValueError):
        StraightLineModel().matrix([PARIS], [bad_point])
    with pytest.raises(ValueError):
        haversine_matrix_m([bad_point], [PARIS])
    with pytest.raises(ValueError):
        StraightLineModel().pairs([PARIS], [bad_point])


def test_malformed_point_lists_are_rejected() -> None:
    """Points that are not (lon, lat) pairs raise ValueError."""
    with pytest.raises(ValueError):
        StraightLineModel().matrix([(2.35, 48.85, 0.0)], [PARIS])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("detour_factor", "speed_kmh"), [(0.9, 30.0), (1.3, 0.0), (1.3, -5.0), (float("nan"), 30.0)]
)
def test_invalid_parameters_are_rejected(detour_factor: float, speed_kmh: float) -> None:
    """A detour factor below 1 or a non-positive speed is refused at construction."""
    with pytest.raises(ValueError):
        StraightLineModel(detour_factor=detour_factor, speed_kmh=speed_kmh)


def test_large_matrix_is_fast() -> None:
    """A 2,000 x 2,000 matrix takes well under a second."""
    points = city_points(2_000)
    model = StraightLineModel()
    best_s = math.inf
    for _ in range(3):
        started = time.perf_counter()
        matrix = model.matrix(points, points)
        best_s = min(best_s, time.perf_counter() - started)
    assert matrix.distance_m.shape == (2_000, 2_000)
    assert best_s < 1.0
