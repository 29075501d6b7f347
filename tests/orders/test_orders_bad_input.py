"""Bad input never gives a 500: every refusal is a contract-shaped 4xx naming its field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.settings import Settings
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import (
    assert_http_error,
    assert_validation,
    create_order,
    list_handles,
)

POINT = {"type": "Point", "coordinates": [-122.4, 37.79]}


def _with(**fields: Any) -> dict[str, Any]:
    """A batch of one order with ``fields`` overriding the factory's."""
    return create_orders_body(order_body(**fields))


def _geometry(geometry: Any, **destination: Any) -> dict[str, Any]:
    """A batch whose single order goes to ``geometry``."""
    return _with(destination={"geometry": geometry, **destination})


def test_coordinates_error_names_the_nested_path_exactly(api: TestClient) -> None:
    """The discriminated geometry union's tag (Point) is not part of the reported path."""
    response = api.post("/orders/", json=_geometry({"type": "Point", "coordinates": [200, 10]}))
    assert response.status_code == 422
    assert response.json() == {
        "detail": {"json": {"orders": {"0": {"destination": {"geometry": {"coordinates": [
            "Longitude must be between -180 and 180."]}}}}}},
        "message": "Validation error",
    }


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("orders not a list", {"orders": "many", "plan_mode": "manual"}, "orders"),
    ("no orders", create_orders_body(order_body(), orders=[]), "orders"),
    ("no plan_mode", {"orders": [order_body()]}, "plan_mode"),
    ("unknown plan_mode", _with() | {"plan_mode": "pool"}, "plan_mode"),
    ("unknown matrix strategy", _with() | {"route_solver_matrix_strategy": "guess"},
     "route_solver_matrix_strategy"),
    ("handle not a string", _with(order_handle=5), "orders.0.order_handle"),
    ("empty handle", _with(order_handle=""), "orders.0.order_handle"),
    ("handle with a slash", _with(order_handle="a/b"), "orders.0.order_handle"),
    ("handle ..", _with(order_handle=".."), "orders.0.order_handle"),
    ("handle with NUL", _with(order_handle="a\x00b"), "orders.0.order_handle"),
    ("unknown type", _with(type="return"), "orders.0.type"),
    ("unknown priority", _with(priority="urgent"), "orders.0.priority"),
    ("negative type_index", _with(type_index=-1), "orders.0.type_index"),
    ("capacity not a number", _with(capacity_used="lots"), "orders.0.capacity_used"),
    ("negative service time", _with(expected_service_time=-5), "orders.0.expected_service_time"),
    ("metadata not an object", _with(metadata=[1, 2]), "orders.0.metadata"),
    ("metadata with NUL", _with(metadata={"k": "v\x00"}), "orders.0.metadata"),
    ("product_type not a list", _with(product_type="frozen"), "orders.0.product_type"),
    ("missing scheduled_at", _with(scheduled_at=None, scheduled_after=None),
     "orders.0.scheduled_at"),
    ("scheduled_at not a date", _with(scheduled_at="next tuesday"), "orders.0.scheduled_at"),
    ("scheduled_at impossible day", _with(scheduled_at="2031-02-30T10:00:00Z"),
     "orders.0.scheduled_at"),
    ("scheduled_at out of range", _with(scheduled_after=None,
                                        scheduled_at="0001-01-01T00:00:00+05:00"),
     "orders.0.scheduled_at"),
    ("scheduled_at a number", _with(scheduled_at=1234567890), "orders.0.scheduled_at"),
    ("window reversed", _with(scheduled_after="2031-01-02T00:00:00Z",
                              scheduled_at="2031-01-01T00:00:00Z"), "orders.0.scheduled_after"),
    ("no destination", _with(destination=None), "orders.0.destination"),
    ("address-only destination without a geocoder",
     _with(destination={"address": "somewhere"}), "orders.0.destination.address"),
    ("destination with neither geometry, place nor address", _with(destination={"radius": 5}),
     "orders.0.destination"),
    ("longitude 200", _geometry({"type": "Point", "coordinates": [200, 10]}),
     "orders.0.destination.geometry.coordinates"),
    ("latitude -91", _geometry({"type": "Point", "coordinates": [10, -91]}),
     "orders.0.destination.geometry.coordinates"),
    ("one coordinate", _geometry({"type": "Point", "coordinates": [10]}),
     "orders.0.destination.geometry.coordinates"),
    ("coordinates not numbers", _geometry({"type": "Point", "coordinates": ["a", 1]}),
     "orders.0.destination.geometry.coordinates.0"),
    ("coordinates missing", _geometry({"type": "Point"}),
     "orders.0.destination.geometry.coordinates"),
    ("extra geometry member", _geometry({"type": "Point", "coordinates": [1, 2], "z": 1}),
     "orders.0.destination.geometry.z"),
    ("open polygon ring", _geometry({"type": "Polygon", "coordinates": [
        [[0, 0], [1, 0], [1, 1], [0, 1]]]}), "orders.0.destination.geometry.coordinates"),
    ("polygon latitude 95", _geometry({"type": "Polygon", "coordinates": [
        [[0, 0], [1, 95], [1, 1], [0, 0]]]}), "orders.0.destination.geometry.coordinates"),
    ("unsupported geometry", _geometry({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
     "orders.0.destination.geometry"),
    ("geometry not an object", _geometry("POINT(1 2)"), "orders.0.destination.geometry"),
    ("negative radius", _geometry(POINT, radius=-5), "orders.0.destination.radius"),
    ("zero radius", _geometry(POINT, radius=0), "orders.0.destination.radius"),
    ("radius on a polygon", _geometry({"type": "Polygon", "coordinates": [
        [[0, 0], [0.001, 0], [0.001, 0.001], [0, 0]]]}, radius=10), "orders.0.destination"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_order_bodies_are_422_naming_the_field(
    api: TestClient, case: str, body: dict[str, Any], field: str
) -> None:
    """Each malformed batch is a 422 naming json.<dotted field>, and creates nothing."""
    assert_validation(api.post("/orders/", json=body), "json", field)
    assert list_handles(api) == []


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"orders": [', "_schema"),
    (b"\xff\xfe\xfd", "_schema"),
    (b'{"orders": "caf\xe9"}', "_schema"),
    (b"[1, 2]", "_schema"),
    (b'"orders"', "_schema"),
    (b'{"plan_mode": "manual", "orders": [{"order_handle": "n", "scheduled_at": '
     b'"2031-01-01T00:00:00Z", "destination": {"geometry": {"coordinates": [1, 2]}}, '
     b'"metadata": {"x": NaN}}]}', "orders.0.metadata"),
    (b'{"plan_mode": "manual", "orders": [{"order_handle": "n", "scheduled_at": '
     b'"2031-01-01T00:00:00Z", "destination": {"geometry": {"coordinates": [1, 2]}}, '
     b'"metadata": {"x": "\\ud800"}}]}', "orders.0.metadata"),
    (b'{"plan_mode": "manual", "orders": [{"order_handle": "n", "scheduled_at": '
     b'"2031-01-01T00:00:00Z", "destination": {"geometry": {"coordinates": [Infinity, 2]}}}]}',
     "orders.0.destination.geometry.coordinates"),
])
def test_unparseable_or_unstorable_json_is_422(api: TestClient, raw: bytes, field: str) -> None:
    """Broken JSON, non-objects, NaN and lone surrogates are 422s, never 500s."""
    response = api.post("/orders/", content=raw, headers={"content-type": "application/json"})
    assert_validation(response, "json", field)


def test_deeply_nested_json_is_refused_cleanly(api: TestClient) -> None:
    """JSON nested past the parser's recursion limit is a 4xx in a contract shape."""
    raw = b'{"orders": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = api.post("/orders/", content=raw, headers={"content-type": "application/json"})
    # The parser itself gives up (RecursionError): the same 422 as any broken JSON.
    assert_validation(response, "json", "_schema")
    deep: Any = "leaf"
    for _ in range(40):
        deep = {"k": deep}
    assert_validation(api.post("/orders/", json=_with(metadata=deep)), "json",
                      "orders.0.metadata")


def test_more_than_1000_orders_is_422(api: TestClient) -> None:
    """A batch holds at most 1000 orders."""
    body = create_orders_body(*(order_body() for _ in range(1001)))
    assert_validation(api.post("/orders/", json=body), "json", "orders")
    assert list_handles(api) == []


def test_body_over_the_size_limit_is_413(api: TestClient, settings: Settings) -> None:
    """A body larger than api.max_body_bytes is refused with a 413 HTTPError."""
    limit = settings.api.max_body_bytes
    response = api.post("/orders/", content=b" " * (limit + 1),
                        headers={"content-type": "application/json"})
    body = assert_http_error(response, 413)
    assert str(limit) in body["detail"]["description"]


def test_streamed_body_over_the_size_limit_is_413(api: TestClient, settings: Settings) -> None:
    """A chunked body without Content-Length is counted and refused the same way."""
    limit = settings.api.max_body_bytes

    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent <= limit:
            yield b" " * 1_048_576
            sent += 1_048_576

    response = api.post("/orders/", content=chunks(), headers={"content-type": "application/json"})
    assert_http_error(response, 413)


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/nothing-here"), ("get", "/orders/a/b/c"), ("post", "/orders/x/explode"),
])
def test_unknown_paths_are_404_http_errors(api: TestClient, method: str, path: str) -> None:
    """Unknown paths are 404s in the HTTPError shape."""
    assert_http_error(getattr(api, method)(path), 404)


def test_unsupported_method_is_405_http_error(api: TestClient) -> None:
    """DELETE on an order is not an operation: 405 in the HTTPError shape."""
    name = create_order(api)["order_handle"]
    assert_http_error(api.delete(f"/orders/{name}"), 405)


@pytest.mark.parametrize(("body", "field"), [
    ({"metadata": "text"}, "metadata"),
    ({"capacity_used": -1}, "capacity_used"),
    ({"priority": "asap"}, "priority"),
    ({"scheduled_at": "soon"}, "scheduled_at"),
    ({"destination": {"geometry": {"type": "Point", "coordinates": [0, 100]}}},
     "destination.geometry.coordinates"),
    ({"ops_group_handle": ""}, "ops_group_handle"),
])
def test_bad_patch_bodies_are_422(api: TestClient, body: dict[str, Any], field: str) -> None:
    """PATCH validates like creation and changes nothing on error."""
    order = create_order(api)
    assert_validation(api.patch(f"/orders/{order['order_handle']}", json=body), "json", field)
    after = api.get(f"/orders/{order['order_handle']}").json()
    assert {k: after[k] for k in order} == order


def test_bad_action_body_is_422(api: TestClient) -> None:
    """An action body's metadata must be an object."""
    name = create_order(api)["order_handle"]
    assert_validation(api.post(f"/orders/{name}/cancel", json={"metadata": "x"}), "json",
                      "metadata")
    response = api.post(f"/orders/{name}/cancel", content=b"{oops",
                        headers={"content-type": "application/json"})
    assert_validation(response, "json", "_schema")
    assert api.get(f"/orders/{name}").json()["status"] == "unplanned"


@pytest.mark.parametrize("path", ["/orders/a%00b", "/orders/a%00b/cancel"])
def test_nul_in_a_path_handle_is_404(api: TestClient, path: str) -> None:
    """A handle no order can have is simply not found."""
    response = api.get(path) if path.count("/") == 2 else api.post(path)
    assert_http_error(response, 404)


@pytest.mark.parametrize("param", ["search_term", "worker_handle", "ops_group_handle",
                                   "route_handle", "plan_id"])
def test_nul_in_a_query_filter_is_422(api: TestClient, param: str) -> None:
    """Text filters refuse NUL characters by name instead of failing in the database."""
    assert_validation(api.get("/orders/", params={param: "a\x00b"}), "query", param)


@pytest.mark.parametrize("value", ["100000000000000000000000", "-1"])
def test_out_of_range_numbers_in_the_query_are_422(api: TestClient, value: str) -> None:
    """Integers beyond any attempt number are refused, not passed to the database."""
    assert_validation(api.get("/orders/", params={"fulfillment_attempt": value}), "query",
                      "fulfillment_attempt")


def test_bad_timeline_window_is_422(api: TestClient) -> None:
    """from_time and to_time must be ISO-8601 and are named when not."""
    name = create_order(api)["order_handle"]
    assert_validation(api.get(f"/orders/{name}", params={"from_time": "yesterday"}), "query",
                      "from_time")
    assert_validation(api.get(f"/orders/{name}", params={
        "from_time": "2031-01-01T00:00:00Z", "to_time": "later"}), "query", "to_time")


def test_every_error_of_a_body_is_reported(api: TestClient) -> None:
    """Several bad fields at once are all named in one 422."""
    body = _with(order_handle="", type="x", priority="y", capacity_used="z")
    response = api.post("/orders/", json=body)
    for field in ("orders.0.order_handle", "orders.0.type", "orders.0.priority",
                  "orders.0.capacity_used"):
        assert_validation(response, "json", field)
