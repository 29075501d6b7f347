"""The road model against a real osrm-routed over the Helsinki extract: tables, snapping,
route geometry, chunking, unreachable pairs, the day cache and the supervised child."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from routekeeper.cli.main import main
from routekeeper.travel import UNREACHABLE, OsrmModel, RoadModel, StraightLineModel
from routekeeper.travel.dataset import MANIFEST, OsrmTools, resolve
from routekeeper.travel.supervisor import RoutedSupervisor
from tests.roads.conftest import OSRM_HOME, PBF, Engine
from tests.roads.places import CENTRAL_STATION, ESPLANADI, HELSINKI, PARIS, Point


def road(url: str, **options: object) -> RoadModel:
    """A road model over the server at url (fresh cache)."""
    return RoadModel(OsrmModel(url, max_table_size=int(options.pop("max_table_size", 1000))),
                     StraightLineModel(), **options)  # type: ignore[arg-type]


def osrm_route(url: str, points: list[Point]) -> dict[str, object]:
    """OSRM's own /route answer through points, with the server's defaults."""
    coords = ";".join(f"{lon},{lat}" for lon, lat in points)
    body = httpx.get(f"{url}/route/v1/driving/{coords}?overview=false").json()
    assert body["code"] == "Ok", body
    route: dict[str, object] = body["routes"][0]
    return route


def test_cli_prepares_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`routekeeper roads prepare` builds a dataset folder that resolve() accepts."""
    monkeypatch.setenv("ROUTEKEEPER_ROUTING__OSRM_HOME", str(OSRM_HOME))
    out = tmp_path / "roads"
    assert main(["roads", "prepare", "--pbf", str(PBF), "--out", str(out)]) == 0
    assert f"ROUTEKEEPER_ROUTING__DATASET={out}" in capsys.readouterr().out
    assert resolve(out) == out.resolve() / "Helsinki.osrm"
    assert '"profile": "car"' in (out / MANIFEST).read_text()
    assert not (out / "Helsinki.osm.pbf").exists()


def test_cli_refuses_a_missing_extract(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing extract is one line on stderr and exit status 1, no dataset."""
    monkeypatch.setenv("ROUTEKEEPER_ROUTING__OSRM_HOME", str(OSRM_HOME))
    status = main(["roads", "prepare", "--pbf", str(tmp_path / "none.pbf"),
                   "--out", str(tmp_path / "out")])
    assert status == 1
    assert "is not a file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_serve_refuses_a_dataset_that_is_not_one(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """serve with a routing.dataset that was never prepared exits 2 with a clear message."""
    monkeypatch.setenv("ROUTEKEEPER_ROUTING__DATASET", str(tmp_path))
    assert main(["serve", "--port", "0"]) == 2
    assert "roads prepare" in capsys.readouterr().err


def test_table_matches_osrm_route(helsinki: Engine) -> None:
    """Every matrix cell is OSRM's own /route distance and duration for that pair."""
    points = [CENTRAL_STATION, *HELSINKI]
    matrix = road(helsinki.url).matrix(points, points)
    assert matrix.unreachable is None and matrix.straight is None
    for i in (0, 2, 5):
        for j in (1, 3, 6):
            route = osrm_route(helsinki.url, [points[i], points[j]])
            assert abs(matrix.distance_m[i, j] - route["distance"]) <= 1  # type: ignore[operator]
            assert abs(matrix.duration_s[i, j] - route["duration"]) <= 1  # type: ignore[operator]
    # One-way streets: road times in central Helsinki are not symmetric.
    assert not np.array_equal(matrix.duration_s, matrix.duration_s.T)


def test_chunked_table_equals_one_table(helsinki: Engine) -> None:
    """A table split to a server limit of 4 coordinates is stitched into the same matrix."""
    points = [CENTRAL_STATION, *HELSINKI]
    sent: list[httpx.Request] = []
    client = httpx.Client(event_hooks={"request": [sent.append]})
    small = RoadModel(OsrmModel(helsinki.url, max_table_size=4, client=client),
                      StraightLineModel())
    whole = road(helsinki.url).matrix(points, points)
    chunked = small.matrix(points, points)
    assert len(sent) > 1
    assert np.array_equal(whole.distance_m, chunked.distance_m)
    assert np.array_equal(whole.duration_s, chunked.duration_s)
    client.close()


def test_points_off_the_roads_fall_back_to_the_straight_line(helsinki: Engine) -> None:
    """Legs touching a point farther than max_snap_m from any road are straight-line legs."""
    points = [CENTRAL_STATION, ESPLANADI, *PARIS]
    model = road(helsinki.url, max_snap_m=500.0)
    matrix = model.matrix(points, points)
    line = StraightLineModel().matrix(points, points)
    assert matrix.straight is not None
    expected = np.ones((5, 5), dtype=bool)
    expected[:2, :2] = False
    assert np.array_equal(matrix.straight, expected)
    assert np.array_equal(matrix.distance_m[2:, 2:], line.distance_m[2:, 2:])
    assert np.array_equal(matrix.distance_m[:2, 3], line.distance_m[:2, 3])
    # Helsinki's own legs stay on the roads (a road leg is longer than the straight line).
    assert matrix.distance_m[0, 1] != line.distance_m[0, 1]
    leg = model.leg(ESPLANADI, PARIS[0])
    assert leg.straight and not leg.unreachable
    assert leg.geometry == [ESPLANADI, PARIS[0]]


def test_path_follows_the_streets(helsinki: Engine) -> None:
    """The line through stops is OSRM's route geometry: many points, from first to last stop."""
    stops = [CENTRAL_STATION, HELSINKI[0], HELSINKI[1]]
    line = road(helsinki.url).path(stops)
    assert len(line) >= 20
    assert line[0] == stops[0] and line[-1] == stops[-1]
    lons, lats = [p[0] for p in line], [p[1] for p in line]
    assert min(lons) > 24.92 and max(lons) < 24.97 and min(lats) > 60.15 and max(lats) < 60.19


def test_unreachable_pairs_are_marked_not_invented(fragmented: Engine) -> None:
    """With osrm-extract's default snapping many pairs have no route: they are marked."""
    points = [CENTRAL_STATION, *HELSINKI]
    raw = OsrmModel(fragmented.url, max_table_size=1000).table(points, points)
    nulls = np.isnan(raw.duration_s)
    assert nulls.any(), "the fragmented dataset should have unreachable pairs"
    matrix = road(fragmented.url).matrix(points, points)
    assert matrix.unreachable is not None
    assert np.array_equal(matrix.unreachable, nulls)
    assert (matrix.duration_s[nulls] == UNREACHABLE).all()
    assert (matrix.distance_m[~nulls] < 10_000).all()
    i, j = (int(k) for k in np.argwhere(nulls)[0])
    leg = road(fragmented.url).leg(points[i], points[j])
    assert leg.unreachable and leg.geometry == [points[i], points[j]]


def test_the_day_cache_asks_only_about_new_points(helsinki: Engine) -> None:
    """A repeated or smaller matrix is answered from the cache; new points cost two tables."""
    model = road(helsinki.url)
    points = [CENTRAL_STATION, *HELSINKI]
    first = model.matrix(points, points)
    assert model.cache.requests == 1
    again = model.matrix(points[2:5], points[:3])
    assert model.cache.requests == 1
    assert np.array_equal(again.duration_s, first.duration_s[2:5, :3])
    model.matrix([*points, (24.9450, 60.1690)], points)
    assert model.cache.requests == 3 and len(model.cache) == 8


def test_the_supervisor_restarts_a_dead_osrm_routed(helsinki: Engine) -> None:
    """Killing the supervised osrm-routed gets it restarted, serving again; stop() ends it."""
    supervisor = RoutedSupervisor(OsrmTools(OSRM_HOME).binary("osrm-routed"),
                                  resolve(helsinki.dataset), port=0)
    supervisor.start()
    try:
        process = supervisor._process
        assert process is not None
        process.kill()
        for _ in range(200):
            if supervisor.restarts and supervisor.running():
                break
            time.sleep(0.05)
        assert supervisor.restarts == 1 and supervisor.running()
        answer = httpx.get(f"{supervisor.url}/nearest/v1/driving/24.9414,60.1710")
        assert answer.json()["code"] == "Ok"
    finally:
        supervisor.stop()
    assert not supervisor.running()



def test_a_big_square_table_in_two_halves_equals_the_blocks(helsinki: Engine) -> None:
    """450 points: asked as two concurrent halves or as blocks of a 400-point limit, the same."""
    rng = np.random.default_rng(7)
    points = [(float(lon), float(lat)) for lon, lat in zip(
        rng.uniform(24.9355, 24.9535, 450), rng.uniform(60.1645, 60.1790, 450), strict=True)]
    halves = OsrmModel(helsinki.url, max_table_size=2000).table(points, points)
    blocks = OsrmModel(helsinki.url, max_table_size=400).table(points, points)
    assert np.array_equal(halves.duration_s, blocks.duration_s, equal_nan=True)
    assert np.array_equal(halves.distance_m, blocks.distance_m, equal_nan=True)
    assert np.array_equal(halves.origin_snap_m, blocks.origin_snap_m)


def test_a_server_with_a_small_table_limit_is_asked_in_blocks_it_accepts(
        helsinki: Engine) -> None:
    """osrm-routed started with --max-table-size 10 answers TooBig to the client's first,
    1,000-coordinate-sized request; the client asks again in blocks the server accepts, gets
    the same table as from a generous server, and keeps the smaller size for later tables."""
    points = [CENTRAL_STATION, ESPLANADI, *HELSINKI]
    points += [(lon + 0.0011, lat + 0.0007) for lon, lat in points]
    supervisor = RoutedSupervisor(OsrmTools(OSRM_HOME).binary("osrm-routed"),
                                  resolve(helsinki.dataset), port=0, max_table_size=10)
    supervisor.start()
    try:
        strict = OsrmModel(supervisor.url, max_table_size=1000)
        got = strict.table(points, points)
        # osrm-routed compares sources x destinations with the square of its limit, so the
        # size kept is the first whose blocks it accepts, not necessarily 10 or less.
        assert strict.max_table_size < len(points)
        again = strict.table(points[:3], points)
    finally:
        supervisor.stop()
    expected = OsrmModel(helsinki.url, max_table_size=1000).table(points, points)
    assert np.array_equal(got.duration_s, expected.duration_s, equal_nan=True)
    assert np.array_equal(got.distance_m, expected.distance_m, equal_nan=True)
    assert np.array_equal(got.destination_snap_m, expected.destination_snap_m)
    assert np.array_equal(again.duration_s, expected.duration_s[:3], equal_nan=True)
