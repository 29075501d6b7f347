"""Workers over HTTP: ``/workers/`` and ``/workers/{worker_handle}``."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.factories import worker_body
from tests.workers.helpers import (
    assert_coded_error,
    assert_not_found,
    assert_validation_error,
    ops_group_body,
    unique,
)


def _full_worker(ops_group_handle: str) -> dict[str, Any]:
    return worker_body(
        worker_handle=unique("james") + "@ht.com",
        profile={"employee_id": "144223", "skills": ["ICU", "ER"]},
        ops_group_handle=ops_group_handle,
        product_types=["plumbing", "hardware"],
        capacity=12,
        home={"geometry": {"type": "Point", "coordinates": [-121.86, 37.33]},
              "address": "777 Story Rd", "radius": 100},
        schedule=[
            {"day_of_week": "MONDAY", "start_time": "09:00", "end_time": "18:00",
             "ops_group_handle": ops_group_handle, "priority": 1},
            {"date": "2030-02-01", "start_time": "22:00", "end_time": "06:00"},
        ],
        unavailable_on=["2030-12-15"],
        available=False,
        metadata={"team": "night"},
    )


def test_create_worker_answers_201_and_reads_back(api: TestClient) -> None:
    """POST answers 201 with every field; GET and the list return the same worker."""
    group = api.post("/workers/ops-groups/", json=ops_group_body()).json()["ops_group_handle"]
    body = _full_worker(group)
    created = api.post("/workers/", json=body)
    assert created.status_code == 201, created.text
    worker = created.json()
    for field in ("worker_handle", "name", "profile", "ops_group_handle", "product_types",
                  "capacity", "home", "unavailable_on", "available", "metadata"):
        assert worker[field] == body[field], field
    assert worker["schedule"] == body["schedule"]
    assert worker["device_ids"] == []
    assert worker["created_at"].endswith("Z")
    handle = body["worker_handle"]  # an email: "@" and "." are fine in a path
    assert api.get(f"/workers/{handle}").json() == worker
    assert api.get("/workers/").json()["workers"] == [worker]


def test_minimal_worker_gets_the_defaults(api: TestClient) -> None:
    """Only a handle: the default ops group, available, nothing else."""
    response = api.post("/workers/", json={"worker_handle": "solo"})
    assert response.status_code == 201, response.text
    worker = response.json()
    assert worker["ops_group_handle"] == "default"
    assert worker["available"] is True
    assert worker["profile"] == {}
    assert worker["product_types"] == [] and worker["schedule"] == []
    assert worker["home"] is None and worker["capacity"] is None


def test_driver_handle_is_accepted_for_worker_handle(api: TestClient) -> None:
    """HyperTrack's deprecated ``driver_handle`` names the worker too."""
    response = api.post("/workers/", json={"driver_handle": "old-client"})
    assert response.status_code == 201, response.text
    assert response.json()["worker_handle"] == "old-client"


def test_patch_changes_only_the_given_fields(api: TestClient) -> None:
    """PATCH changes what it names; null clears lists and the profile; the rest stays."""
    body = worker_body()
    handle = body["worker_handle"]
    api.post("/workers/", json=body)
    response = api.patch(f"/workers/{handle}", json={
        "name": "Renamed", "capacity": 3, "product_types": None, "profile": None,
        "available": False,
    })
    assert response.status_code == 200, response.text
    worker = response.json()
    assert worker["name"] == "Renamed" and worker["capacity"] == 3
    assert worker["product_types"] == [] and worker["profile"] == {}
    assert worker["available"] is False
    assert worker["schedule"] == body["schedule"] and worker["home"] == body["home"]
    assert api.get(f"/workers/{handle}").json() == worker


def test_patch_moves_a_worker_to_another_ops_group(api: TestClient) -> None:
    """A worker can move to an existing ops group of its account."""
    group = api.post("/workers/ops-groups/", json=ops_group_body()).json()["ops_group_handle"]
    handle = api.post("/workers/", json=worker_body()).json()["worker_handle"]
    worker = api.patch(f"/workers/{handle}", json={"ops_group_handle": group}).json()
    assert worker["ops_group_handle"] == group


def test_unknown_ops_group_is_400(api: TestClient) -> None:
    """Naming an ops group the account lacks is a 400 ``ops_group_not_defined``."""
    body = worker_body(ops_group_handle="nowhere")
    assert_coded_error(api.post("/workers/", json=body), 400, "ops_group_not_defined")
    assert_not_found(api.get(f"/workers/{body['worker_handle']}"))
    shift = {"day_of_week": "FRIDAY", "start_time": "08:00", "end_time": "12:00",
             "ops_group_handle": "nowhere"}
    body = worker_body(schedule=[shift])
    assert_coded_error(api.post("/workers/", json=body), 400, "ops_group_not_defined")
    handle = api.post("/workers/", json=worker_body()).json()["worker_handle"]
    moved = api.patch(f"/workers/{handle}", json={"ops_group_handle": "nowhere"})
    assert_coded_error(moved, 400, "ops_group_not_defined")
    assert api.get(f"/workers/{handle}").json()["ops_group_handle"] == "default"


def test_duplicate_worker_is_409(api: TestClient) -> None:
    """A second POST with a live worker's handle is a 409 ``duplicate_resource``."""
    body = worker_body()
    assert api.post("/workers/", json=body).status_code == 201
    assert_coded_error(api.post("/workers/", json=body), 409, "duplicate_resource")


def test_delete_is_204_then_404(api: TestClient) -> None:
    """DELETE answers 204 with no body; afterwards the worker is gone everywhere."""
    handle = api.post("/workers/", json=worker_body()).json()["worker_handle"]
    deleted = api.delete(f"/workers/{handle}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_not_found(api.get(f"/workers/{handle}"))
    assert_not_found(api.patch(f"/workers/{handle}", json={"name": "x"}))
    assert_not_found(api.delete(f"/workers/{handle}"))
    assert api.get("/workers/").json()["workers"] == []


def test_a_deleted_handle_makes_a_fresh_worker(api: TestClient) -> None:
    """Re-creating a deleted worker's handle keeps nothing of the old worker."""
    old = worker_body(metadata={"old": True}, capacity=7)
    api.post("/workers/", json=old)
    api.delete(f"/workers/{old['worker_handle']}")
    response = api.post("/workers/", json={"worker_handle": old["worker_handle"]})
    assert response.status_code == 201, response.text
    worker = response.json()
    assert worker["name"] is None and worker["capacity"] is None
    assert worker["metadata"] is None and worker["schedule"] == [] and worker["home"] is None


def test_device_ids_are_read_only(api: TestClient) -> None:
    """``device_ids`` comes from linked devices, never from a request body: a body's is
    ignored like any field the server does not take."""
    body = worker_body(device_ids=["d-1"])
    response = api.post("/workers/", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["device_ids"] == []
    patched = api.patch(f"/workers/{body['worker_handle']}", json={"device_ids": ["d-2"]})
    assert patched.status_code == 200 and patched.json()["device_ids"] == []


_MONDAY = {"day_of_week": "MONDAY", "start_time": "08:00", "end_time": "17:00"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schedule": [{**_MONDAY, "start_time": "25:00"}]}, "schedule.0.start_time"),
        ({"schedule": [{**_MONDAY, "end_time": "12:60"}]}, "schedule.0.end_time"),
        ({"schedule": [{**_MONDAY, "start_time": "8:00"}]}, "schedule.0.start_time"),
        ({"schedule": [{**_MONDAY, "day_of_week": "FUNDAY"}]}, "schedule.0.day_of_week"),
        ({"schedule": [{**_MONDAY, "day_of_week": "monday"}]}, "schedule.0.day_of_week"),
        ({"schedule": [{**_MONDAY, "date": "2030-01-07"}]}, "schedule.0"),
        ({"schedule": [{"start_time": "08:00", "end_time": "17:00"}]}, "schedule.0"),
        ({"schedule": [{**_MONDAY, "end_time": "08:00"}]}, "schedule.0"),
        ({"schedule": [{"date": "2030-02-30", "start_time": "08:00", "end_time": "09:00"}]},
         "schedule.0.date"),
        ({"schedule": [{**_MONDAY, "ops_group_handle": "a b"}]},
         "schedule.0.ops_group_handle"),
        ({"home": {"geometry": {"type": "Point", "coordinates": [181, 0]}}},
         "home.geometry.coordinates"),
        ({"home": {"geometry": {"type": "Point", "coordinates": [0, 90.5]}}},
         "home.geometry.coordinates"),
        ({"home": {"geometry": {"type": "Point", "coordinates": [1]}}},
         "home.geometry.coordinates"),
        ({"home": {"geometry": {"type": "Polygon", "coordinates": [0, 0]}}},
         "home.geometry.type"),
        ({"home": {"address": "no geometry"}}, "home.geometry"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 2**31}, "capacity"),
        ({"capacity": "ten"}, "capacity"),
        ({"product_types": [""]}, "product_types"),
        ({"unavailable_on": ["2030-13-01"]}, "unavailable_on.0"),
        ({"name": "nul\u0000"}, "name"),
        ({"profile": {"k\u0000": 1}}, "profile"),
        ({"worker_handle": "has space"}, "worker_handle"),
        ({"worker_handle": "a/b"}, "worker_handle"),
        ({"worker_handle": "x" * 201}, "worker_handle"),
        ({"ops_group_handle": "bad\u0000"}, "ops_group_handle"),
    ],
)
def test_invalid_worker_is_422(api: TestClient, overrides: dict[str, Any], field: str) -> None:
    """Each invalid field is a 422 naming it under ``json``, and nothing is created."""
    body = worker_body(**overrides)
    assert_validation_error(api.post("/workers/", json=body), "json", field)
    assert api.get("/workers/").json()["workers"] == []


def test_invalid_patch_is_422_and_changes_nothing(api: TestClient) -> None:
    """A PATCH with a bad shift time is a 422 and the worker keeps its schedule."""
    body = worker_body()
    api.post("/workers/", json=body)
    bad = [{**_MONDAY, "end_time": "24:00"}]
    response = api.patch(f"/workers/{body['worker_handle']}", json={"schedule": bad})
    assert_validation_error(response, "json", "schedule.0.end_time")
    assert api.get(f"/workers/{body['worker_handle']}").json()["schedule"] == body["schedule"]


def test_missing_or_malformed_body_is_422(api: TestClient) -> None:
    """No body, or a body that is not JSON, is a 422 in the ``ValidationError`` shape."""
    assert api.post("/workers/").status_code == 422
    response = api.post("/workers/", content=b"{not json",
                        headers={"content-type": "application/json"})
    assert_validation_error(response, "json", "_schema")


def test_a_handle_that_cannot_exist_is_404(api: TestClient) -> None:
    """A path handle with a NUL or over 200 characters names no worker or ops group."""
    assert_not_found(api.get("/workers/a%00b"))
    assert_not_found(api.get("/workers/" + "x" * 300))
    assert_not_found(api.delete("/workers/a%00b"))
    assert_not_found(api.get("/workers/ops-groups/a%00b"))


def _handles(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/workers/", params=params)
    assert response.status_code == 200, response.text
    return [w["worker_handle"] for w in response.json()["workers"]]


def test_list_filters_by_ops_groups(api: TestClient) -> None:
    """``ops_group_handle`` takes one handle or a comma-separated list."""
    east = api.post("/workers/ops-groups/", json=ops_group_body()).json()["ops_group_handle"]
    west = api.post("/workers/ops-groups/", json=ops_group_body()).json()["ops_group_handle"]
    a = api.post("/workers/", json=worker_body(worker_handle="a", ops_group_handle=east))
    b = api.post("/workers/", json=worker_body(worker_handle="b", ops_group_handle=west))
    assert a.status_code == b.status_code == 201
    api.post("/workers/", json=worker_body(worker_handle="c"))
    assert _handles(api, ops_group_handle=east) == ["a"]
    assert _handles(api, ops_group_handle=f"{east}, {west}") == ["a", "b"]
    assert _handles(api, ops_group_handle="default") == ["c"]
    assert _handles(api, ops_group_handle="nowhere") == []
    # A NUL is refused in every query parameter (core/guards.py), as in every text field.
    assert api.get("/workers/", params={"ops_group_handle": "bad\x00"}).status_code == 422


def test_list_searches_handle_name_and_profile(api: TestClient) -> None:
    """``search_term`` matches the handle, the name or the profile, case-insensitively,
    and takes ``%`` and ``_`` literally."""
    api.post("/workers/", json=worker_body(worker_handle="ann@x.com", name="Ann Lee"))
    api.post("/workers/", json=worker_body(worker_handle="bob", name="Robert",
                                           profile={"zone": "Harbor_5"}))
    api.post("/workers/", json=worker_body(worker_handle="cy", name="100% Cy"))
    assert _handles(api, search_term="ANN") == ["ann@x.com"]
    assert _handles(api, search_term="robe") == ["bob"]
    assert _handles(api, search_term="harbor_5") == ["bob"]
    assert _handles(api, search_term="%") == ["cy"]
    assert _handles(api, search_term="_") == ["bob"]
    assert _handles(api, search_term="nobody") == []
    response = api.get("/workers/", params={"search_term": "a\x00"})
    assert_validation_error(response, "query", "search_term")


def test_list_pages_with_tokens_bound_to_filters(api: TestClient) -> None:
    """Tokens walk the filtered list once in handle order and only work with its filters."""
    handles = [f"w{i}" for i in range(5)]
    for handle in reversed(handles):
        api.post("/workers/", json=worker_body(worker_handle=handle, name="Page"))
    api.post("/workers/", json=worker_body(worker_handle="w-other", name="Else"))
    seen: list[str] = []
    tokens: list[str] = []
    params: dict[str, Any] = {"limit": 2, "search_term": "page"}
    while True:
        page = api.get("/workers/", params=params).json()
        seen += [w["worker_handle"] for w in page["workers"]]
        if page["pagination_token"] is None:
            break
        tokens.append(page["pagination_token"])
        params = {**params, "pagination_token": page["pagination_token"]}
    assert seen == handles
    assert len(tokens) == 2
    other_filter = api.get("/workers/", params={"limit": 2, "pagination_token": tokens[0]})
    assert_validation_error(other_filter, "query", "pagination_token")
    forged = api.get("/workers/", params={"pagination_token": tokens[0][:-2] + "xx"})
    assert_validation_error(forged, "query", "pagination_token")


@pytest.mark.parametrize("limit", [0, -1, 1001, "many"])
def test_bad_limit_is_422(api: TestClient, limit: Any) -> None:
    """``limit`` must be an integer from 1 to 1000."""
    assert_validation_error(api.get("/workers/", params={"limit": limit}), "query", "limit")


def test_another_accounts_worker_is_404(api: TestClient, other_tenant: Tenant) -> None:
    """Another account's worker cannot be read, changed, deleted or listed; its handle and
    ops groups are not this account's."""
    group = ops_group_body()
    other_tenant.client.post("/workers/ops-groups/", json=group)
    body = worker_body(ops_group_handle=group["ops_group_handle"])
    handle = body["worker_handle"]
    assert other_tenant.client.post("/workers/", json=body).status_code == 201
    assert_not_found(api.get(f"/workers/{handle}"))
    assert_not_found(api.patch(f"/workers/{handle}", json={"name": "mine"}))
    assert_not_found(api.delete(f"/workers/{handle}"))
    assert api.get("/workers/").json()["workers"] == []
    # Their ops group does not exist here, so the same body is refused...
    assert_coded_error(api.post("/workers/", json=body), 400, "ops_group_not_defined")
    # ...while the handle itself is free in this account.
    mine = api.post("/workers/", json={**body, "ops_group_handle": "default"})
    assert mine.status_code == 201
    theirs = other_tenant.client.get(f"/workers/{handle}").json()
    assert theirs["ops_group_handle"] == group["ops_group_handle"]


def test_concurrent_creates_of_one_handle_are_one_201_and_one_409(tenant: Tenant) -> None:
    """Two clients racing to create the same worker and ops group: one wins, the other gets
    409 ``duplicate_resource``, never a 500."""
    barrier = threading.Barrier(2)
    statuses: dict[str, list[int]] = {"worker": [], "ops_group": []}

    def race(client: TestClient) -> None:
        barrier.wait()
        worker = client.post("/workers/", json={"worker_handle": "racer"})
        group = client.post("/workers/ops-groups/", json={"ops_group_handle": "race-group"})
        statuses["worker"].append(worker.status_code)
        statuses["ops_group"].append(group.status_code)

    clients = [TestClient(tenant.client.app, raise_server_exceptions=False) for _ in range(2)]
    threads = [threading.Thread(target=race, args=(client,)) for client in clients]
    for client in clients:
        client.auth = (tenant.account_id, tenant.secret_key)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses["worker"]) == [201, 409]
    assert sorted(statuses["ops_group"]) == [200, 409]
