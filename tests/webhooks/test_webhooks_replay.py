"""Replay: new deliveries of past events (same event ids), one event or all since a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from tests.conftest import Tenant

from .helpers import (
    all_final,
    cancel_order,
    create_endpoint,
    deliveries,
    drain,
    new_order,
    update_order,
)
from .receiver import Receiver


def _replay(api: TestClient, endpoint_id: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/webhooks/endpoints/{endpoint_id}/replay", json=body)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    return data


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_replay_one_event_resends_it_under_the_same_id(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """A replayed event arrives again with its own id, as a new delivery marked replay."""
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    event_id = receiver.accepted_event_ids()[0]
    result = _replay(api, endpoint["id"], event_id=event_id)
    assert result["replayed"] == 1 and result["skipped"] == 0
    drain(runner, all_final(api, endpoint["id"], 2))
    assert receiver.accepted_event_ids() == [event_id, event_id]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {event_id}
    rows = deliveries(api, endpoint["id"])
    assert [r["replay"] for r in rows] == [True, False]
    assert rows[0]["id"] == result["delivery_ids"][0]


def test_replay_since_only_failed_resends_what_was_not_acknowledged(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """With only_failed, events answered 2xx are skipped and the rejected ones sent again."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    receiver.script = [200, 400, 422]
    endpoint = create_endpoint(api, receiver.url)
    for count in (1, 2, 3):
        cancel_order(api, new_order(api))
        drain(runner, all_final(api, endpoint["id"], count))
    [acknowledged] = receiver.accepted_event_ids()
    rejected = [e["id"] for r in receiver.requests if r.status >= 400 for e in r.events()]
    assert len(rejected) == 2
    result = _replay(api, endpoint["id"], since=_iso(start), only_failed=True)
    assert (result["replayed"], result["skipped"]) == (2, 1)
    drain(runner, all_final(api, endpoint["id"], 5))
    accepted = receiver.accepted_event_ids()
    assert accepted.count(acknowledged) == 1
    assert sorted(accepted[1:]) == sorted(rejected)
    everything = _replay(api, endpoint["id"], since=_iso(start))
    assert everything["replayed"] == 3


def test_replay_since_honours_the_filter_and_reaches_back_before_the_endpoint(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """Events recorded before the endpoint existed are sent, if its filter passes them."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    handle = new_order(api)
    update_order(api, handle)
    cancel_order(api, handle)
    endpoint = create_endpoint(api, receiver.url, event_types=["order.cancelled"])
    result = _replay(api, endpoint["id"], since=_iso(start),
                     until=_iso(datetime.now(UTC) + timedelta(seconds=1)))
    assert result["replayed"] == 1
    drain(runner, all_final(api, endpoint["id"], 1))
    [event] = [e for r in receiver.accepted() for e in r.events()]
    assert event["data"]["value"] == "cancelled" and event["data"]["order_handle"] == handle


def test_replay_skips_events_still_queued(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """An event whose delivery is still pending is not queued a second time."""
    receiver.default_status = 503
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    runner.run_until_idle()
    event_id = deliveries(api, endpoint["id"])[0]["event_id"]
    result = _replay(api, endpoint["id"], event_id=event_id)
    assert result == {"replayed": 0, "skipped": 1, "delivery_ids": []}


def test_replay_refusals(api: TestClient, other_tenant: Tenant, receiver: Receiver,
                         runner: JobRunner) -> None:
    """A disabled endpoint is a 409, another account's event a 404, a bad body a 422."""
    endpoint = create_endpoint(api, receiver.url)
    path = f"/webhooks/endpoints/{endpoint['id']}/replay"
    theirs = create_endpoint(other_tenant.client, receiver.url + "?them")
    cancel_order(other_tenant.client, new_order(other_tenant.client))
    drain(runner, all_final(other_tenant.client, theirs["id"], 1))
    their_event = deliveries(other_tenant.client, theirs["id"])[0]["event_id"]
    missing = api.post(path, json={"event_id": their_event})
    assert missing.status_code == 404 and missing.json()["message"] == "Event not found"
    for body in ({}, {"event_id": their_event, "since": "2020-01-01T00:00:00Z"},
                 {"since": "2020-01-02T00:00:00Z", "until": "2020-01-01T00:00:00Z"},
                 {"since": "yesterday"}):
        assert api.post(path, json=body).status_code == 422, body
    api.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"enabled": False})
    disabled = api.post(path, json={"since": "2020-01-01T00:00:00Z"})
    assert disabled.status_code == 409
    assert disabled.json()["code"] == "endpoint_disabled"


@pytest.mark.parametrize("only_failed", [True, False])
def test_replay_of_nothing_is_an_empty_result(
    api: TestClient, receiver: Receiver, only_failed: bool
) -> None:
    """A window without events queues nothing."""
    endpoint = create_endpoint(api, receiver.url)
    result = _replay(api, endpoint["id"], since="2000-01-01T00:00:00Z",
                     until="2000-01-02T00:00:00Z", only_failed=only_failed)
    assert result == {"replayed": 0, "skipped": 0, "delivery_ids": []}
