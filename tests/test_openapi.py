"""The published OpenAPI document: every endpoint, its auth and its error responses."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

# Operations a client reaches without account credentials: the token exchange, device
# ingestion with its own key, and the public tracking page (contract 1.1).
PUBLIC = {
    ("post", "/oauth/token"),
    ("get", "/osmand"),
    ("post", "/osmand"),
    ("post", "/owntracks"),
    ("get", "/tracking/{tracking_id}"),
}
# Public operations that check no credential at all, so they never answer 401.
NO_CREDENTIALS = {("get", "/tracking/{tracking_id}")}
# Paths served outside the API document on purpose.
UNDOCUMENTED = {"/health"}

# The contract's operations that must be published (contract sections 1.1, 2 and 2.10).
REQUIRED = [
    ("post", "/oauth/token"),
    ("get", "/workers/"),
    ("post", "/workers/"),
    ("get", "/workers/{worker_handle}"),
    ("patch", "/workers/{worker_handle}"),
    ("delete", "/workers/{worker_handle}"),
    ("get", "/workers/ops-groups/"),
    ("post", "/workers/ops-groups/"),
    ("get", "/workers/ops-groups/{ops_group_handle}"),
    ("patch", "/workers/ops-groups/{ops_group_handle}"),
    ("get", "/orders/"),
    ("post", "/orders/"),
    ("get", "/orders/{order_handle}"),
    ("patch", "/orders/{order_handle}"),
    ("post", "/orders/{order_handle}/complete"),
    ("post", "/orders/{order_handle}/cancel"),
]


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    """The document as a client downloads it, without credentials."""
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [(method, path, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in methods]


def _schema_names(response: dict[str, Any]) -> set[str]:
    """The component names a response body may take (one ``$ref`` or an ``anyOf`` of them)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return {str(option.get("$ref", "")).rsplit("/", 1)[-1] for option in options}


def test_the_contract_operations_are_published(spec: dict[str, Any]) -> None:
    """Every operation the contract requires of this service is in the document."""
    published = {(method, path) for method, path, _ in _operations(spec)}
    missing = [op for op in REQUIRED if op not in published]
    assert not missing


def test_no_endpoint_is_hidden(app: FastAPI, spec: dict[str, Any]) -> None:
    """Every route is documented, except the trailing-slash twins of documented ones."""
    documented = {(m, p) for m, p, _ in _operations(spec)}
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path in UNDOCUMENTED:
            continue
        twin = route.path[:-1] if route.path.endswith("/") else route.path + "/"
        for method in route.methods or set():
            key = (method.lower(), route.path)
            assert key in documented or (method.lower(), twin) in documented, key


def test_every_operation_declares_its_security(spec: dict[str, Any]) -> None:
    """Every non-public operation accepts Basic or a Bearer token, as HyperTrack's does."""
    schemes = spec["components"]["securitySchemes"]
    assert schemes["BasicAuth"] == {"type": "http", "scheme": "basic",
                                    "description": schemes["BasicAuth"]["description"]}
    assert schemes["TokenAuth"]["scheme"] == "bearer"
    for method, path, op in _operations(spec):
        if (method, path) in PUBLIC:
            assert not op.get("security"), (method, path)
        else:
            assert op.get("security") == [{"BasicAuth": []}, {"TokenAuth": []}], (method, path)


def test_every_operation_documents_401_and_422(spec: dict[str, Any]) -> None:
    """Every operation lists 401 (``HTTPError``) unless it checks no credential, and 422
    (``ValidationError``)."""
    problems = []
    for method, path, op in _operations(spec):
        responses = op["responses"]
        if (method, path) not in NO_CREDENTIALS and (
                "401" not in responses or _schema_names(responses["401"]) != {"HTTPErrorBody"}):
            problems.append((method, path, "401"))
        if ("422" not in responses
                or _schema_names(responses["422"]) != {"ValidationErrorBody"}):
            problems.append((method, path, "422"))
    assert not problems


def test_operations_on_a_path_resource_document_404(spec: dict[str, Any]) -> None:
    """An operation on ``.../{handle}`` lists 404 in one of the contract's error shapes."""
    problems = []
    for method, path, op in _operations(spec):
        if "{" not in path:
            continue
        response = op["responses"].get("404")
        if response is None or not _schema_names(response) <= {"HTTPErrorBody", "ErrorBody"}:
            problems.append((method, path))
    assert not problems


def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    """Generated clients need one distinct operationId per operation."""
    ids = [op["operationId"] for _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids))


def test_docs_serve_html(app: FastAPI) -> None:
    """``/docs`` is an HTML page that loads the document, with no credentials."""
    with TestClient(app) as client:
        response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text and "/openapi.json" in response.text
