"""Contract section 1: authentication, paths, timestamps and the three error shapes."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.contract.spec import OPERATIONS, TIMESTAMP, answers, fails
from tests.factories import create_orders_body, order_body


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "x-1", path)


@pytest.mark.parametrize("name", [n for n, op in OPERATIONS.items() if 401 in op.errors])
def test_every_operation_refuses_no_credentials_as_httperror(anon: TestClient,
                                                             name: str) -> None:
    """Without credentials every authenticated operation is a 401 in the HTTPError shape."""
    op = OPERATIONS[name]
    response = anon.request(op.method, _concrete(op.path))
    fails(name, response, 401, "HTTPError")


def test_basic_and_bearer_both_authenticate(anon: TestClient, tenant: Tenant) -> None:
    """Basic AccountID:SecretKey and a client-credentials Bearer token both work."""
    token = anon.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key})
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    answers("list_orders", anon.get("/orders/", headers=bearer))
    answers("list_orders", anon.get("/orders/", auth=(tenant.account_id, tenant.secret_key)))


@pytest.mark.parametrize("path", ["/orders/plans", "/orders/plans/", "/orders/", "/orders",
                                  "/orders/routes/", "/orders/routes"])
def test_paths_answer_with_and_without_trailing_slash(api: TestClient, path: str) -> None:
    """Collections answer both spellings without a redirect (open question 17)."""
    response = api.get(path, follow_redirects=False)
    assert response.status_code == 200, response.text


def test_timestamps_are_utc_with_milliseconds(api: TestClient) -> None:
    """Every instant goes out as YYYY-MM-DDTHH:MM:SS.sssZ."""
    order = api.post("/orders/", json=create_orders_body(order_body())).json()["orders"][0]
    for name in ("created_at", "scheduled_at", "scheduled_after"):
        assert TIMESTAMP.match(order[name]), (name, order[name])


def test_body_validation_is_nested_by_path(api: TestClient) -> None:
    """A bad item of a list is reported under json -> orders -> index -> field."""
    bad = order_body()
    del bad["destination"]
    body = fails("create_orders", api.post("/orders/", json=create_orders_body(bad)), 422,
                 "ValidationError")
    assert body == {"detail": {"json": {"orders": {"0": {"destination": [
        "Missing data for required field."]}}}}, "message": "Validation error"}


@pytest.mark.parametrize(("params", "detail"), [
    ({"limit": "ten"}, {"query": {"limit": ["Not a valid integer."]}}),
    ({"colour": "red"}, {"query": {"colour": ["Unknown field."]}}),
    ({"tracking_status": "lost"}, {"query": {"tracking_status": [
        "Must be one of: tracked, untracked."]}}),
    ({"worker_inside_destination": "maybe"}, {"query": {"worker_inside_destination": [
        "Not a valid boolean."]}}),
])
def test_query_validation_uses_marshmallow_wording(api: TestClient, params: dict[str, str],
                                                   detail: dict[str, object]) -> None:
    """Query errors read exactly as APIFlask writes them."""
    body = fails("list_orders", api.get("/orders/", params=params), 422, "ValidationError")
    assert body["detail"] == detail


def test_enum_errors_list_the_choices(api: TestClient) -> None:
    """An unknown enum value names the allowed ones, marshmallow's way."""
    body = fails("create_orders", api.post("/orders/", json=create_orders_body(
        order_body(type="both"))), 422, "ValidationError")
    assert body["detail"] == {"json": {"orders": {"0": {"type": [
        "Must be one of: pick, drop."]}}}}


def test_not_found_is_httperror(api: TestClient) -> None:
    """An unknown order is a 404 in the HTTPError shape."""
    fails("get_order", api.get("/orders/nobody-has-this"), 404, "HTTPError")
