"""An OSRM-compatible HTTP travel server answering a benchmark instance's DIMACS figures.

It speaks the two services routekeeper's OSRM client uses, the way a user's osrm-routed
would be reached (``routing.osrm_url``): ``GET /table/v1/{profile}/{lon,lat;...}`` with
``sources``, ``destinations`` and ``annotations=duration,distance``, and ``GET
/route/v1/{profile}/{lon,lat;...}`` with a GeoJSON line. A stored point (lon, lat) is the
instance point (10 lon, 10 lat); distance and duration are both the DIMACS figure
floor(10 x Euclidean distance), so the matrix the planner gets is the instance's exactly.

The server runs in a process of its own (as osrm-routed would), started by
``start_server()``; it answers on 127.0.0.1 with one thread per connection.
"""

from __future__ import annotations

import multiprocessing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import numpy.typing as npt
import orjson

# Stored coordinates are instance coordinates divided by this (see service_path.py).
COORDINATE_SCALE = 10.0
SCALE = 10  # DIMACS: distances truncated to one decimal, times ten


def dimacs(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """DIMACS figures between stored (lon, lat) rows ``a`` and ``b``."""
    pa = np.rint(a * COORDINATE_SCALE)
    pb = np.rint(b * COORDINATE_SCALE)
    euclid = np.hypot(pa[:, None, 0] - pb[None, :, 0], pa[:, None, 1] - pb[None, :, 1])
    return np.floor(SCALE * euclid + 1e-9).astype(np.int64)


def _points(segment: str) -> npt.NDArray[np.float64]:
    pairs = [p.split(",") for p in unquote(segment).split(";") if p]
    return np.array([[float(lon), float(lat)] for lon, lat in pairs], dtype=np.float64)


def _indices(query: dict[str, list[str]], key: str, count: int) -> list[int]:
    raw = query.get(key, ["all"])[0]
    return list(range(count)) if raw == "all" else [int(i) for i in raw.split(";")]


def _waypoints(points: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
    return [{"distance": 0.0, "location": [lon, lat], "name": ""} for lon, lat in points.tolist()]


def table(segment: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """The table service's answer."""
    points = _points(segment)
    sources = points[_indices(query, "sources", len(points))]
    destinations = points[_indices(query, "destinations", len(points))]
    figures = dimacs(sources, destinations)
    return {"code": "Ok", "durations": figures, "distances": figures,
            "sources": _waypoints(sources), "destinations": _waypoints(destinations)}


def route(segment: str) -> dict[str, Any]:
    """The route service's answer: one leg per pair of consecutive points, a straight line."""
    points = _points(segment)
    legs = [int(dimacs(points[i:i + 1], points[i + 1:i + 2])[0, 0])
            for i in range(len(points) - 1)]
    return {"code": "Ok", "waypoints": _waypoints(points), "routes": [{
        "distance": float(sum(legs)), "duration": float(sum(legs)),
        "legs": [{"distance": float(m), "duration": float(m), "steps": []} for m in legs],
        "geometry": {"type": "LineString", "coordinates": points.tolist()},
    }]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        try:
            if len(parts) == 4 and parts[0] == "table":
                body = table(parts[3], query)
            elif len(parts) == 4 and parts[0] == "route":
                body = route(parts[3])
            else:
                self._send(400, {"code": "InvalidUrl", "message": url.path})
                return
        except (ValueError, IndexError) as exc:
            self._send(400, {"code": "InvalidQuery", "message": str(exc)})
            return
        self._send(200, body)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


def _serve(ports: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    ports.put(server.server_address[1])
    server.serve_forever()


class TravelServer:
    """The server process; ``url`` is its base URL (``routing.osrm_url``)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self.process = context.Process(target=_serve, args=(ports,), daemon=True,
                                       name="dimacs-travel-server")
        self.process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=30)}"

    def close(self) -> None:
        """Stop the server process."""
        self.process.terminate()
        self.process.join(timeout=10)
