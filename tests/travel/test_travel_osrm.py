"""Tests of the OSRM travel model against responses recorded from a real osrm-routed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from routekeeper.travel import (
    TRAVEL_FAILURE_MESSAGE,
    UNREACHABLE,
    OsrmModel,
    TravelError,
    TravelModel,
)
from routekeeper.travel.osrm import BLOCKS_AT_ONCE, table_blocks

BASE_URL = "http://osrm.test:5000"
RECORDING = json.loads(
    (Path(__file__).parent / "fixtures" / "osrm_recorded.json").read_text(encoding="utf-8")
)
EXCHANGES: dict[str, dict[str, Any]] = RECORDING["exchanges"]
STOPS: list[tuple[float, float]] = [(lon, lat) for lon, lat in RECORDING["stops"]]
FULL_TABLE = EXCHANGES["table_full"]["body"]

Handler = Callable[[httpx.Request], httpx.Response]


def coordinate_key(lon: float, lat: float) -> str:
    """Format a position the way the client and the recording write it in URLs."""
    return f"{lon:.6f},{lat:.6f}"


STOP_INDEX = {coordinate_key(lon, lat): i for i, (lon, lat) in enumerate(STOPS)}


def replay(name: str) -> httpx.Response:
    """Return the recorded response called name."""
    exchange = EXCHANGES[name]
    return httpx.Response(exchange["status"], json=exchange["body"])


def serve_table_from_recording(request: httpx.Request) -> httpx.Response:
    """Answer any table request over the recorded stops with the matching part of the full table."""
    # OSRM computes each cell independently, so a block request returns exactly the cells of the
    # full table (checked against the live osrm-routed the fixtures were recorded from).
    path = request.url.path
    assert path.startswith("/table/v1/driving/")
    stop_ids = [STOP_INDEX[key] for key in path.removeprefix("/table/v1/driving/").split(";")]
    # Without sources (or destinations) OSRM uses every coordinate, as a square request does.
    params = request.url.params
    sources = [stop_ids[int(i)] for i in params["sources"].split(";")] \
        if "sources" in params else stop_ids
    targets = [stop_ids[int(i)] for i in params["destinations"].split(";")] \
        if "destinations" in params else stop_ids
    body = {
        "code": "Ok",
        "durations": [[FULL_TABLE["durations"][s][t] for t in targets] for s in sources],
        "distances": [[FULL_TABLE["distances"][s][t] for t in targets] for s in sources],
        "sources": [FULL_TABLE["sources"][s] for s in sources],
        "destinations": [FULL_TABLE["destinations"][t] for t in targets],
    }
    return httpx.Response(200, json=body)


class Recorder:
    """A MockTransport handler that remembers every request it served."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def model(self, **options: Any) -> OsrmModel:
        """Return an OsrmModel that talks to this handler."""
        client = httpx.Client(transport=httpx.MockTransport(self))
        return OsrmModel(BASE_URL, client=client, **options)


def coordinate_count(request: httpx.Request) -> int:
    """The number of coordinates a table request lists."""
    return len(request.url.path.rsplit("/", 1)[1].split(";"))


def table_shape(request: httpx.Request) -> tuple[int, int, int]:
    """Return (coordinates, sources, destinations) counts of a table request."""
    n_coordinates = coordinate_count(request)
    n_sources = len(request.url.params["sources"].split(";"))
    n_destinations = len(request.url.params["destinations"].split(";"))
    return n_coordinates, n_sources, n_destinations


def recorded_grid(key: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Return a recorded full-table annotation rounded to int64 the way the client rounds it."""
    return np.rint(np.array(FULL_TABLE[key], dtype=np.float64)).astype(np.int64)


def test_model_satisfies_protocol() -> None:
    """OsrmModel is usable wherever a TravelModel is expected."""
    model: TravelModel = Recorder(serve_table_from_recording).model()
    assert callable(model.matrix) and callable(model.leg)


def test_matrix_in_one_request() -> None:
    """A small square matrix is one table request listing each point once, as int64 arrays."""
    recorder = Recorder(serve_table_from_recording)
    matrix = recorder.model().matrix(STOPS, STOPS)
    assert len(recorder.requests) == 1
    assert "sources" not in recorder.requests[0].url.params
    assert np.array_equal(matrix.duration_s, recorded_grid("durations"))
    assert np.array_equal(matrix.distance_m, recorded_grid("distances"))
    assert matrix.distance_m.dtype == matrix.duration_s.dtype == np.int64
    # The grid has a one-way street, so real road times are not symmetric.
    assert not np.array_equal(matrix.duration_s, matrix.duration_s.T)


def test_table_request_format() -> None:
    """A table request is OSRM's URL: coordinates, then sources, destinations, annotations."""
    recorder = Recorder(serve_table_from_recording)
    recorder.model().matrix(STOPS[:2], STOPS[5:8])
    (request,) = recorder.requests
    assert request.method == "GET"
    coordinates = ";".join(coordinate_key(*stop) for stop in STOPS[:2] + STOPS[5:8])
    assert request.url.raw_path.decode() == (
        f"/table/v1/driving/{coordinates}"
        "?sources=0;1&destinations=2;3;4&annotations=duration,distance&generate_hints=false"
    )


def test_matrix_is_batched_within_max_table_size() -> None:
    """With max_table_size=6 an 8 x 8 matrix is nine blocks of at most 3 x 3, reassembled."""
    recorder = Recorder(serve_table_from_recording)
    matrix = recorder.model(max_table_size=6).matrix(STOPS, STOPS)
    shapes = [table_shape(request) for request in recorder.requests]
    assert len(shapes) == 9
    assert all(n_coordinates <= 6 for n_coordinates, _, _ in shapes)
    # Rows and columns split 3 + 3 + 2, so: four 3 x 3, two 3 x 2, two 2 x 3 and one 2 x 2.
    assert sorted(shapes) == sorted(
        [(6, 3, 3)] * 4 + [(5, 3, 2)] * 2 + [(5, 2, 3)] * 2 + [(4, 2, 2)]
    )
    assert np.array_equal(matrix.duration_s, recorded_grid("durations"))
    assert np.array_equal(matrix.distance_m, recorded_grid("distances"))


def test_rectangular_matrix_is_batched() -> None:
    """A 2 x 8 matrix keeps both sources in every request and fills the rest with destinations."""
    recorder = Recorder(serve_table_from_recording)
    matrix = recorder.model(max_table_size=5).matrix(STOPS[:2], STOPS)
    shapes = [table_shape(request) for request in recorder.requests]
    assert shapes == [(5, 2, 3), (5, 2, 3), (4, 2, 2)]
    assert np.array_equal(matrix.duration_s, recorded_grid("durations")[:2])


def refusing_more_than(limit: int) -> Handler:
    """A server whose --max-table-size is ``limit``: OSRM's recorded TooBig above it."""

    def serve(request: httpx.Request) -> httpx.Response:
        if coordinate_count(request) > limit:
            return replay("table_too_big")
        return serve_table_from_recording(request)

    return serve


def test_a_refused_table_is_asked_again_in_blocks_the_server_accepts() -> None:
    """TooBig lowers the table size (to osrm-routed's default 100, then by halves) until the
    server accepts; the table is whole and the smaller size is kept for the next call."""
    recorder = Recorder(refusing_more_than(4))
    model = recorder.model(max_table_size=1000)
    matrix = model.matrix(STOPS, STOPS)
    assert np.array_equal(matrix.duration_s, recorded_grid("durations"))
    assert np.array_equal(matrix.distance_m, recorded_grid("distances"))
    # Refused: the square table of 8 points at 1000, 100, 50, 25 and 12, then a 3 + 3 block
    # at 6 (blocks asked at once may be refused a few times before the size drops); 3 is not.
    assert model.max_table_size == 3
    sizes = [coordinate_count(request) for request in recorder.requests]
    final = len(table_blocks(len(STOPS), len(STOPS), 3))
    assert sizes[:5] == [8] * 5 and all(size <= 3 for size in sizes[-final:])
    assert len(sizes) - final <= 5 + len(table_blocks(len(STOPS), len(STOPS), 6))
    recorder.requests.clear()
    model.matrix(STOPS[:2], STOPS[:1])
    assert [coordinate_count(request) for request in recorder.requests] == [3]


def test_a_server_that_refuses_every_table_is_a_travel_error() -> None:
    """Refusals down to the smallest possible table end in the usual TravelError."""
    recorder = Recorder(refusing_more_than(1))
    expect_travel_error(recorder.model(max_table_size=1000))
    assert len(recorder.requests) < 20


def test_empty_matrix_makes_no_request() -> None:
    """No origins means an empty matrix and no request at all."""
    recorder = Recorder(serve_table_from_recording)
    matrix = recorder.model().matrix([], STOPS)
    assert matrix.distance_m.shape == (0, len(STOPS))
    assert recorder.requests == []


def test_recorded_table_with_sources_and_destinations() -> None:
    """The recorded sources/destinations answer parses to its 3 x 5 cells."""
    recorder = Recorder(lambda request: replay("table_sources_destinations"))
    matrix = recorder.model().matrix(STOPS[:3], STOPS[3:])
    expected = EXCHANGES["table_sources_destinations"]["body"]["durations"]
    assert matrix.duration_s.tolist() == np.rint(expected).astype(int).tolist()
    # The client asks what was recorded, byte for byte, and leaves the hints out (unused).
    sent = recorder.requests[0].url.raw_path.decode()
    assert sent == EXCHANGES["table_sources_destinations"]["request"] + "&generate_hints=false"


def test_leg_from_recorded_route() -> None:
    """A leg takes the route's distance, duration and full GeoJSON geometry."""
    recorder = Recorder(lambda request: replay("route"))
    leg = recorder.model().leg(STOPS[0], STOPS[1])
    route = EXCHANGES["route"]["body"]["routes"][0]
    assert (leg.distance_m, leg.duration_s) == (1399, 201)
    assert leg.geometry == [tuple(position) for position in route["geometry"]["coordinates"]]
    assert len(leg.geometry) == 9
    assert recorder.requests[0].url.raw_path.decode() == \
        EXCHANGES["route"]["request"] + "&generate_hints=false"


def test_leg_agrees_with_table_cell() -> None:
    """The recorded route and the recorded table give the same leg figures."""
    leg = Recorder(lambda request: replay("route")).model().leg(STOPS[0], STOPS[1])
    matrix = Recorder(serve_table_from_recording).model().matrix(STOPS[:1], STOPS[1:2])
    assert (leg.distance_m, leg.duration_s) == (matrix.distance_m[0, 0], matrix.duration_s[0, 0])


def test_same_segment_negative_distance_is_clamped() -> None:
    """OSRM's recorded -0.4 m between two stops on one segment becomes 0, not an error."""
    body = EXCHANGES["table_same_segment"]["body"]
    assert body["distances"][0][1] < 0  # the quirk really is in the recording
    stops = [(lon, lat) for lon, lat in RECORDING["same_segment_stops"]]
    matrix = Recorder(lambda request: replay("table_same_segment")).model().matrix(stops, stops)
    assert matrix.distance_m.tolist() == [[0, 0], [0, 0]]


def expect_travel_error(model: OsrmModel, call: str = "matrix") -> None:
    """Assert that one matrix or leg call fails with exactly the user-facing message."""
    with pytest.raises(TravelError) as caught:
        if call == "matrix":
            model.matrix(STOPS[:3], STOPS[:3])
        else:
            model.leg(STOPS[0], STOPS[1])
    assert str(caught.value) == TRAVEL_FAILURE_MESSAGE


def test_null_cell_is_unreachable() -> None:
    """A recorded table's null cells become unreachable cells holding UNREACHABLE, no error."""
    body = EXCHANGES["table_unreachable"]["body"]
    assert body["durations"][0][1] is None
    path = EXCHANGES["table_unreachable"]["request"].split("?")[0]
    stops = [(float(p.split(",")[0]), float(p.split(",")[1]))
             for p in path.removeprefix("/table/v1/driving/").split(";")]
    matrix = Recorder(lambda request: replay("table_unreachable")).model().matrix(stops, stops)
    assert matrix.unreachable is not None
    nulls = np.array([[cell is None for cell in row] for row in body["durations"]])
    assert np.array_equal(matrix.unreachable, nulls)
    assert (matrix.duration_s[nulls] == UNREACHABLE).all()
    assert (matrix.distance_m[nulls] == UNREACHABLE).all()


@pytest.mark.parametrize("name", ["table_invalid_query", "table_too_big"])
def test_recorded_table_error_code(name: str) -> None:
    """OSRM's recorded HTTP 400 errors (InvalidQuery, TooBig) raise TravelError."""
    assert EXCHANGES[name]["status"] == 400
    expect_travel_error(Recorder(lambda request: replay(name)).model())


def test_recorded_no_route_is_an_error() -> None:
    """The recorded NoRoute answer for a leg raises TravelError."""
    assert EXCHANGES["route_no_route"]["body"]["code"] == "NoRoute"
    expect_travel_error(Recorder(lambda request: replay("route_no_route")).model(), call="leg")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"code": "NoTable", "message": "no table"}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(503, json={"code": "Ok"}),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, content=b"\xff\xfe\x00"),
        httpx.Response(200, json=["Ok"]),
        httpx.Response(200, json={"code": "Ok"}),
        httpx.Response(200, json={"code": "Ok", "durations": [[0, 1]], "distances": [[0, 1]]}),
        httpx.Response(
            200, json={"code": "Ok", "durations": [[0, 1, 2]] * 3, "distances": [[0, "1", 2]] * 3}
        ),
        httpx.Response(
            200, json={"code": "Ok", "durations": [[0, 1, True]] * 3, "distances": [[0, 1, 2]] * 3}
        ),
        httpx.Response(
            200, json={"code": "Ok", "durations": [[0, 1, -60]] * 3, "distances": [[0, 1, 2]] * 3}
        ),
        httpx.Response(
            200, content=b'{"code": "Ok", "durations": [[0, 1, NaN]], "distances": [[0, 1, 2]]}'
        ),
    ],
    ids=[
        "code-not-ok",
        "502-html",
        "503-ok-body",
        "bad-json",
        "not-utf8",
        "json-array",
        "no-durations",
        "wrong-shape",
        "string-cell",
        "bool-cell",
        "very-negative",
        "nan-cell",
    ],
)
def test_malformed_table_answers_are_errors(response: httpx.Response) -> None:
    """Any non-200, non-Ok, malformed or ill-shaped table answer raises TravelError."""
    expect_travel_error(Recorder(lambda request: response).model())


@pytest.mark.parametrize(
    "body",
    [
        {"code": "Ok", "routes": []},
        {"code": "Ok", "routes": [{"distance": 10, "duration": 2}]},
        {
            "code": "Ok",
            "routes": [
                {"distance": None, "duration": 2, "geometry": {"coordinates": [[0, 0], [1, 1]]}}
            ],
        },
        {
            "code": "Ok",
            "routes": [
                {"distance": 10, "duration": -2, "geometry": {"coordinates": [[0, 0], [1, 1]]}}
            ],
        },
        {
            "code": "Ok",
            "routes": [{"distance": 10, "duration": 2, "geometry": {"coordinates": [[0, 0], [1]]}}],
        },
        {"code": "Ok", "routes": [{"distance": 10, "duration": 2, "geometry": "encoded-polyline"}]},
    ],
    ids=["no-routes", "no-geometry", "null-distance", "negative", "bad-position", "polyline"],
)
def test_malformed_route_answers_are_errors(body: dict[str, Any]) -> None:
    """A route answer without a usable route, figures or GeoJSON geometry raises TravelError."""
    expect_travel_error(Recorder(lambda request: httpx.Response(200, json=body)).model(), "leg")


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_transport_errors_and_timeouts_are_errors(error: httpx.HTTPError) -> None:
    """Timeouts and transport failures raise TravelError for matrices and legs alike."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    expect_travel_error(Recorder(fail).model())
    expect_travel_error(Recorder(fail).model(), call="leg")


def test_request_carries_the_timeout() -> None:
    """Every request is sent with the configured timeout on all socket operations."""
    recorder = Recorder(serve_table_from_recording)
    recorder.model(timeout_s=2.5).matrix(STOPS[:2], STOPS[:2])
    timeout = recorder.requests[0].extensions["timeout"]
    assert timeout == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


def test_overall_deadline_stops_a_stuck_call() -> None:
    """A server that never answers makes matrix() fail at the overall deadline, not hang."""
    release = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return serve_table_from_recording(request)

    model = Recorder(stuck).model(deadline_s=0.3)
    started = time.monotonic()
    try:
        expect_travel_error(model)
        assert time.monotonic() - started < 2.0
    finally:
        release.set()


def test_deadline_stops_further_blocks() -> None:
    """Once the overall deadline has passed no further table block is requested."""

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.1)
        return serve_table_from_recording(request)

    recorder = Recorder(slow)
    model = recorder.model(max_table_size=2, deadline_s=0.25)
    with pytest.raises(TravelError):
        model.matrix(STOPS, STOPS)
    time.sleep(0.3)  # let the abandoned helper threads notice the deadline
    blocks = len(STOPS) ** 2
    # Blocks go BLOCKS_AT_ONCE at a time: about three rounds fit before the deadline.
    assert 2 <= len(recorder.requests) <= 3 * BLOCKS_AT_ONCE < blocks


def test_blocks_are_asked_a_few_at_once() -> None:
    """A table larger than the server's limit is asked in blocks sent concurrently."""
    active = 0
    most = 0
    lock = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return serve_table_from_recording(request)

    recorder = Recorder(slow)
    got = recorder.model(max_table_size=2).matrix(STOPS, STOPS)
    assert 1 < most <= BLOCKS_AT_ONCE
    assert len(recorder.requests) == len(STOPS) ** 2
    assert got.distance_m.shape == (len(STOPS), len(STOPS))


def test_injected_client_is_left_open() -> None:
    """Closing the model leaves a client it was given open for its owner."""
    client = httpx.Client(transport=httpx.MockTransport(serve_table_from_recording))
    with OsrmModel(BASE_URL, client=client) as model:
        model.matrix(STOPS[:2], STOPS[:2])
    assert not client.is_closed
    client.close()


def test_base_url_with_path_prefix() -> None:
    """A base URL with a path prefix and a trailing slash is joined without doubling slashes."""
    recorder = Recorder(lambda request: replay("route"))
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    OsrmModel("http://osrm.test/osrm/", client=client, profile="car").leg(STOPS[0], STOPS[1])
    assert recorder.requests[0].url.path.startswith("/osrm/route/v1/car/")


@pytest.mark.parametrize(
    "options",
    [
        {"base_url": "ftp://osrm.test"},
        {"base_url": "osrm.test:5000"},
        {"base_url": BASE_URL, "profile": "driving/../../x"},
        {"base_url": BASE_URL, "max_table_size": 1},
        {"base_url": BASE_URL, "timeout_s": 0},
    ],
)
def test_invalid_configuration_is_rejected(options: dict[str, Any]) -> None:
    """Bad URLs, profiles, table sizes or timeouts are refused at construction."""
    with pytest.raises(ValueError):
        OsrmModel(**options)


# Real sockets: MockTransport cannot show that the client gives up on a silent or dribbling server.


@pytest.fixture
def misbehaving_server() -> Iterator[Callable[[bytes | None], str]]:
    """Start loopback servers that accept and then stay silent or dribble a byte at a time."""
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def start(dribble: bytes | None) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        sockets.append(listener)

        def serve() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except OSError:
                    continue
                sockets.append(connection)
                for byte in dribble or b"":
                    if stop.wait(0.05):
                        break
                    try:
                        connection.sendall(bytes([byte]))
                    except OSError:
                        break

        threading.Thread(target=serve, daemon=True).start()
        host, port = listener.getsockname()
        return f"http://{host}:{port}"

    yield start
    stop.set()
    for sock in sockets:
        sock.close()


def test_silent_server_times_out(misbehaving_server: Callable[[bytes | None], str]) -> None:
    """A server that accepts the connection and never answers fails after timeout_s."""
    with OsrmModel(misbehaving_server(None), timeout_s=0.3) as model:
        started = time.monotonic()
        expect_travel_error(model)
        assert time.monotonic() - started < 2.0


def test_dribbling_server_hits_the_deadline(
    misbehaving_server: Callable[[bytes | None], str],
) -> None:
    """A server dribbling headers a byte per 50 ms never times out a read but hits the deadline."""
    headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 10_000
    with OsrmModel(misbehaving_server(headers), timeout_s=0.3, deadline_s=0.6) as model:
        started = time.monotonic()
        expect_travel_error(model)
        assert time.monotonic() - started < 2.0
