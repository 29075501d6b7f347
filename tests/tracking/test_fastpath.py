"""OsmAnd query strings are answered next to FastAPI's routing: the same answers and error
shapes as the routed endpoint, with the request id and metrics of every request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from routekeeper.core import metrics
from routekeeper.tracking import endpoints
from routekeeper.tracking.fastpath import OsmandFastPath

from .api_helpers import make_worker, register


@pytest.fixture
def key(api: TestClient) -> str:
    make_worker(api, "w1")
    return register(api, "phone", "w1")


class _Routed:
    """Stands in for the rest of the app: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _fast_client(app: FastAPI, routed: _Routed) -> TestClient:
    fast = OsmandFastPath(routed)

    async def with_app(scope: Scope, receive: Receive, send: Send) -> None:
        # As inside the app's middleware stack, where Starlette has put itself in the scope.
        await fast({**scope, "app": app}, receive, send)

    return TestClient(with_app, raise_server_exceptions=False)


def test_query_strings_are_answered_without_the_routed_app(anon: TestClient, key: str) -> None:
    routed = _Routed()
    client = _fast_client(anon.app, routed)  # type: ignore[arg-type]
    ok = client.get("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["accepted"] == 1
    bad = client.get("/osmand", params={"id": key, "lat": "north", "lon": "13.4"})
    assert bad.status_code == 422 and bad.json()["message"] == "Validation error"
    assert client.get("/osmand", params={"id": "nope", "lat": "1", "lon": "2"}).status_code == 401
    assert routed.paths == []
    # What the fast path does not serve goes on to the app: bodies, other paths, no query.
    for response in (client.post("/osmand", json={"device_id": key}), client.get("/osmand"),
                     client.get("/osmand/", params={"id": key}), client.get("/health")):
        assert response.status_code == 204
    assert routed.paths == ["/osmand", "/osmand", "/osmand/", "/health"]


def _requests(route: str, status: str) -> float:
    value = metrics.HTTP_REQUESTS.labels("GET", route, status)._value.get()
    return float(value)


def test_fast_answers_keep_request_ids_metrics_and_error_shapes(
    anon: TestClient, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _requests("/osmand", "200")
    ok = anon.get("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4"},
                  headers={"X-Request-ID": "fix-1"})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "fix-1"
    assert _requests("/osmand", "200") == before + 1

    def busy(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(endpoints, "_upload", busy)
    response = anon.get("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json()["message"] == "Service unavailable"

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(endpoints, "_upload", broken)
    response = anon.get("/osmand", params={"id": key, "lat": "52.5", "lon": "13.4"})
    assert response.status_code == 500
    assert response.json() == {"detail": {}, "message": "Internal server error"}
    assert _requests("/osmand", "500") >= 1
