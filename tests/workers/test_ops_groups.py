"""Ops groups over HTTP: ``/workers/ops-groups/`` and ``/workers/ops-groups/{handle}``."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.workers.helpers import (
    assert_coded_error,
    assert_not_found,
    assert_validation_error,
    ops_group_body,
    unique,
)


def test_every_account_has_a_default_ops_group(api: TestClient) -> None:
    """A new account finds its ``default`` ops group, in UTC, by handle and in the list."""
    response = api.get("/workers/ops-groups/default")
    assert response.status_code == 200, response.text
    group = response.json()
    assert group["ops_group_handle"] == "default"
    assert group["timezone"] == "UTC"
    assert group["route_start_location"] == "live_location"
    assert group["route_completion_type"] == "end_at_last_order"
    assert group["objective_fn"] == "minimise_time"
    listed = api.get("/workers/ops-groups/").json()
    assert [g["ops_group_handle"] for g in listed["ops_groups"]] == ["default"]
    assert listed["pagination_token"] is None


def test_create_ops_group_answers_200_and_reads_back(api: TestClient) -> None:
    """POST answers 200 (as HyperTrack does) and every field survives the round trip."""
    body = ops_group_body()
    created = api.post("/workers/ops-groups/", json=body)
    assert created.status_code == 200, created.text
    group = created.json()
    for field in ("ops_group_handle", "ops_group_label", "timezone", "route_start_location",
                  "route_completion_type", "route_capacity", "route_max_distance",
                  "objective_fn", "default_shift_start_time", "default_shift_end_time",
                  "metadata", "ops_group_home"):
        assert group[field] == body[field], field
    assert group["created_at"].endswith("Z")
    fetched = api.get(f"/workers/ops-groups/{body['ops_group_handle']}")
    assert fetched.status_code == 200
    assert fetched.json() == group


def test_minimal_ops_group_gets_the_defaults(api: TestClient) -> None:
    """Only a handle: UTC, live location start, end at the last order, minimise time."""
    handle = unique("bare")
    group = api.post("/workers/ops-groups/", json={"ops_group_handle": handle}).json()
    assert group["timezone"] == "UTC"
    assert group["route_start_location"] == "live_location"
    assert group["route_completion_type"] == "end_at_last_order"
    assert group["objective_fn"] == "minimise_time"
    assert group["route_capacity"] is None and group["ops_group_home"] is None


def test_name_is_accepted_for_ops_group_label(api: TestClient) -> None:
    """``name`` is an accepted spelling of HyperTrack's ``ops_group_label``."""
    handle = unique("named")
    group = api.post("/workers/ops-groups/", json={"ops_group_handle": handle, "name": "N"})
    assert group.json()["ops_group_label"] == "N"


def test_patch_changes_only_the_given_fields(api: TestClient) -> None:
    """PATCH changes what it names, keeps the rest, and null keeps required settings."""
    body = ops_group_body()
    handle = body["ops_group_handle"]
    api.post("/workers/ops-groups/", json=body)
    response = api.patch(f"/workers/ops-groups/{handle}", json={
        "timezone": "Europe/Berlin", "route_capacity": None, "objective_fn": None,
        "ops_group_label": "Renamed",
    })
    assert response.status_code == 200, response.text
    group = response.json()
    assert group["timezone"] == "Europe/Berlin"
    assert group["route_capacity"] is None
    assert group["objective_fn"] == "minimise_distance"
    assert group["ops_group_label"] == "Renamed"
    assert group["route_max_distance"] == body["route_max_distance"]
    assert api.get(f"/workers/ops-groups/{handle}").json() == group


def test_patch_of_an_unknown_ops_group_is_404(api: TestClient) -> None:
    """PATCH and GET of a handle the account does not have answer 404."""
    assert_not_found(api.patch("/workers/ops-groups/nope", json={"timezone": "UTC"}))
    assert_not_found(api.get("/workers/ops-groups/nope"))


def test_duplicate_ops_group_is_409(api: TestClient) -> None:
    """A second POST with the same handle is a 409 ``duplicate_resource``."""
    body = ops_group_body()
    assert api.post("/workers/ops-groups/", json=body).status_code == 200
    assert_coded_error(api.post("/workers/ops-groups/", json=body), 409, "duplicate_resource")
    default = {"ops_group_handle": "default"}
    assert_coded_error(api.post("/workers/ops-groups/", json=default), 409,
                       "duplicate_resource")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "America"}, "timezone"),  # a directory of the tz database
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "x" * 300}, "timezone"),
        ({"default_shift_start_time": "25:00"}, "default_shift_start_time"),
        ({"default_shift_end_time": "9:00"}, "default_shift_end_time"),
        ({"route_start_location": "moon_base"}, "route_start_location"),
        ({"route_completion_type": "never"}, "route_completion_type"),
        ({"objective_fn": "maximise_fun"}, "objective_fn"),
        ({"route_capacity": 0}, "route_capacity"),
        ({"route_capacity": -3}, "route_capacity"),
        ({"route_capacity": 2**40}, "route_capacity"),
        ({"route_max_distance": -1}, "route_max_distance"),
        ({"ops_group_home": {"geometry": {"type": "Point", "coordinates": [200, 10]}}},
         "ops_group_home.geometry.coordinates"),
        ({"ops_group_home": {"geometry": {"type": "Point", "coordinates": [10, -91]}}},
         "ops_group_home.geometry.coordinates"),
        ({"ops_group_handle": "has space"}, "ops_group_handle"),
        ({"ops_group_handle": "a/b"}, "ops_group_handle"),
        ({"ops_group_handle": ""}, "ops_group_handle"),
        ({"metadata": {"note": "nul\u0000byte"}}, "metadata"),
    ],
)
def test_invalid_ops_group_is_422(api: TestClient, overrides: dict[str, Any], field: str) -> None:
    """Each invalid field is a 422 naming it under ``json``, and nothing is created."""
    body = ops_group_body(**overrides)
    assert_validation_error(api.post("/workers/ops-groups/", json=body), "json", field)
    handles = [g["ops_group_handle"] for g in api.get("/workers/ops-groups/").json()["ops_groups"]]
    assert handles == ["default"]


def test_invalid_patch_is_422_and_changes_nothing(api: TestClient) -> None:
    """A PATCH with a bad time zone is a 422 and the group keeps its settings."""
    response = api.patch("/workers/ops-groups/default", json={"timezone": "Mars/Olympus"})
    assert_validation_error(response, "json", "timezone")
    assert api.get("/workers/ops-groups/default").json()["timezone"] == "UTC"


def test_ops_groups_are_listed_by_handle_page_by_page(api: TestClient) -> None:
    """Tokens walk every ops group once, in handle order, and the last page has none."""
    handles = sorted(["default", *(api.post("/workers/ops-groups/", json=ops_group_body())
                                   .json()["ops_group_handle"] for _ in range(4))])
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if token:
            params["pagination_token"] = token
        page = api.get("/workers/ops-groups/", params=params).json()
        seen += [g["ops_group_handle"] for g in page["ops_groups"]]
        pages += 1
        token = page["pagination_token"]
        if token is None:
            break
    assert seen == handles
    assert pages == 3


def test_forged_ops_group_token_is_422(api: TestClient) -> None:
    """A token the server did not make is a 422 on ``query.pagination_token``."""
    response = api.get("/workers/ops-groups/", params={"pagination_token": "bm90LWEtdG9rZW4"})
    assert_validation_error(response, "query", "pagination_token")


def test_another_accounts_ops_group_is_404(api: TestClient, other_tenant: Tenant) -> None:
    """Another account's ops group cannot be read, changed or listed; its handle is free."""
    body = ops_group_body()
    handle = body["ops_group_handle"]
    assert other_tenant.client.post("/workers/ops-groups/", json=body).status_code == 200
    assert_not_found(api.get(f"/workers/ops-groups/{handle}"))
    assert_not_found(api.patch(f"/workers/ops-groups/{handle}", json={"timezone": "UTC"}))
    listed = api.get("/workers/ops-groups/").json()["ops_groups"]
    assert handle not in [g["ops_group_handle"] for g in listed]
    assert api.post("/workers/ops-groups/", json=body).status_code == 200
    theirs = other_tenant.client.get(f"/workers/ops-groups/{handle}").json()
    assert theirs["timezone"] == body["timezone"]
