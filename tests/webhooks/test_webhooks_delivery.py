"""Delivery end to end: order API -> outbox -> deliveries -> signed POSTs to a real receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.webhooks import safety
from tests.conftest import Tenant

from .helpers import (
    all_final,
    cancel_order,
    create_endpoint,
    deliveries,
    drain,
    fast_settings,
    make_runner,
    new_order,
    update_order,
)
from .receiver import Receiver


def test_events_arrive_signed_as_standard_webhooks(
    api: TestClient, tenant: Tenant, receiver: Receiver, runner: JobRunner
) -> None:
    """An order's events reach the receiver as a JSON array that standardwebhooks verifies."""
    endpoint = create_endpoint(api, receiver.url)
    handle = new_order(api)
    update_order(api, handle, step=1)
    cancel_order(api, handle)
    drain(runner, all_final(api, endpoint["id"], 2))

    events = [e for r in receiver.accepted() for e in r.events()]
    assert [e["data"]["value"] for e in events] == ["updated", "cancelled"]
    for request in receiver.accepted():
        # The package checks the id, the timestamp window and the v1 signature.
        verified = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert verified == request.events()
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-amz-sns-message-id"] == request.headers["webhook-id"]
    event = events[-1]
    assert event["type"] == "order" and event["version"] == "3.0.0"
    assert event["account_id"] == tenant.account_id
    assert event["data"]["order_handle"] == handle and event["data"]["status"] == "cancelled"


def test_hypertrack_signature_is_hmac_of_the_body(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """``x-hypertrack-signature`` is ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    request = receiver.accepted()[0]
    key = base64.b64decode(endpoint["secret"].removeprefix("whsec_"))
    expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-hypertrack-signature"] == expected


def test_single_event_batches_use_the_event_id(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """A batch of one event is identified by that event's id."""
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    request = receiver.accepted()[0]
    assert request.headers["webhook-id"] == request.events()[0]["id"]
    assert deliveries(api, endpoint["id"])[0]["webhook_id"] == request.headers["webhook-id"]


def test_events_are_batched_up_to_batch_size(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings
) -> None:
    """Events waiting together go out as JSON arrays of at most batch_size, in order."""
    endpoint = create_endpoint(api, receiver.url)
    handles = [new_order(api) for _ in range(5)]
    for handle in handles:
        cancel_order(api, handle)
    runner = make_runner(db, fast_settings(settings, batch_size=2))
    drain(runner, all_final(api, endpoint["id"], 5))
    sizes = [len(r.events()) for r in receiver.accepted()]
    assert sizes == [2, 2, 1]
    order = [e["data"]["order_handle"] for r in receiver.accepted() for e in r.events()]
    assert order == handles
    assert receiver.accepted()[0].headers["webhook-id"].startswith("batch_")


def test_receiver_failing_then_recovering_gets_every_event_exactly_once(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """500s for a while, then 200: every event is accepted exactly once, by id."""
    receiver.script = [500, 500, 503, 500]
    endpoint = create_endpoint(api, receiver.url)
    handles = [new_order(api) for _ in range(3)]
    for handle in handles:
        update_order(api, handle)
        cancel_order(api, handle)
    drain(runner, all_final(api, endpoint["id"], 6))

    accepted = receiver.accepted_event_ids()
    assert len(accepted) == len(set(accepted)) == 6
    rows = deliveries(api, endpoint["id"])
    assert {r["event_id"] for r in rows} == set(accepted)
    assert all(r["status"] == "delivered" for r in rows)
    retried = [r for r in rows if r["attempts"] > 1]
    assert retried and all(r["retry_count"] == r["attempts"] - 1 for r in retried)
    # A retried batch carries the same id and the same events as its first attempt.
    by_id: dict[str, set[bytes]] = {}
    for request in receiver.requests:
        events = json.dumps(request.events(), sort_keys=True).encode()
        by_id.setdefault(request.headers["webhook-id"], set()).add(events)
    assert all(len(bodies) == 1 for bodies in by_id.values())


def test_4xx_is_final_and_not_retried(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """A 400 is delivered-but-rejected: recorded with its response, never sent again."""
    receiver.default_status = 400
    receiver.response_body = b'{"error": "bad order"}'
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    time.sleep(1.2)  # longer than the whole retry schedule
    runner.run_until_idle()
    assert len(receiver.requests) == 1
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "rejected" and row["attempts"] == 1
    assert row["last_http_status"] == 400
    assert row["last_response_text"] == '{"error": "bad order"}'
    # A receiver that answers is healthy, whatever it answers.
    assert api.get(f"/webhooks/endpoints/{endpoint['id']}").json()["failing_since"] is None


@pytest.mark.parametrize("status", [429, 408, 500, 302])
def test_retryable_statuses_are_retried(
    api: TestClient, receiver: Receiver, runner: JobRunner, status: int
) -> None:
    """429, 408, 5xx and redirects (not followed) are tried again until a 2xx."""
    receiver.script = [status]
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "delivered" and row["attempts"] == 2
    assert row["last_http_status"] == 200
    assert [r.path for r in receiver.requests] == ["/hooks", "/hooks"]


def test_retries_run_out_and_the_delivery_fails(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """A receiver that never recovers gets the first attempt plus one per schedule step."""
    receiver.default_status = 503
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "failed"
    assert row["attempts"] == len(receiver.requests) == 6
    assert row["next_attempt_at"] is None and row["last_http_status"] == 503


def test_connection_errors_are_recorded_and_retried(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """A receiver that is not listening yields a recorded error and a scheduled retry."""
    endpoint = create_endpoint(api, "http://127.0.0.1:9/hooks")
    cancel_order(api, new_order(api))
    runner.run_until_idle()
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_http_status"] is None and "failed" in row["last_error"]
    assert row["next_attempt_at"] is not None


def test_response_text_is_capped(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings
) -> None:
    """Only max_response_bytes of a response are read and stored."""
    receiver.response_body = b"x" * 5000
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    runner = make_runner(db, fast_settings(settings, max_response_bytes=100))
    drain(runner, all_final(api, endpoint["id"], 1))
    assert deliveries(api, endpoint["id"])[0]["last_response_text"] == "x" * 100


def test_event_type_filters(api: TestClient, receiver: Receiver, runner: JobRunner) -> None:
    """An endpoint only gets the types and values it subscribed to."""
    only_cancelled = create_endpoint(api, receiver.url + "?f=cancelled",
                                     event_types=["order.cancelled"])
    only_routes = create_endpoint(api, receiver.url + "?f=route", event_types=["route"])
    every_order = create_endpoint(api, receiver.url + "?f=order", event_types=["order"])
    handle = new_order(api)
    update_order(api, handle)
    cancel_order(api, handle)
    drain(runner, all_final(api, every_order["id"], 2))
    drain(runner, all_final(api, only_cancelled["id"], 1))
    assert deliveries(api, only_routes["id"]) == []
    values = {r.path: [e["data"]["value"] for e in r.events()] for r in receiver.accepted()}
    assert values["/hooks?f=cancelled"] == ["cancelled"]


def test_accounts_never_receive_each_others_events(
    api: TestClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver,
    runner: JobRunner,
) -> None:
    """Each account's events reach only that account's endpoints."""
    mine = create_endpoint(api, receiver.url + "?who=me")
    theirs = create_endpoint(other_tenant.client, receiver.url + "?who=them")
    cancel_order(api, new_order(api))
    update_order(other_tenant.client, new_order(other_tenant.client))
    drain(runner, all_final(api, mine["id"], 1))
    drain(runner, all_final(other_tenant.client, theirs["id"], 1))

    def seen(path: str) -> list[tuple[str, str]]:
        return [(e["account_id"], e["data"]["value"])
                for r in receiver.accepted() if r.path == path for e in r.events()]

    assert seen("/hooks?who=me") == [(tenant.account_id, "cancelled")]
    assert seen("/hooks?who=them") == [(other_tenant.account_id, "updated")]
    assert len(receiver.requests) == 2


def test_disabled_and_deleted_endpoints_get_nothing(
    api: TestClient, receiver: Receiver, runner: JobRunner
) -> None:
    """Events recorded while an endpoint is disabled or after it is deleted are not sent."""
    disabled = create_endpoint(api, receiver.url + "?e=disabled", enabled=False)
    deleted = create_endpoint(api, receiver.url + "?e=deleted")
    assert api.delete(f"/webhooks/endpoints/{deleted['id']}").status_code == 200
    live = create_endpoint(api, receiver.url + "?e=live")
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, live["id"], 1))
    assert deliveries(api, disabled["id"]) == []
    assert {r.path for r in receiver.requests} == {"/hooks?e=live"}


def test_delivery_time_resolution_refuses_rebinding(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name that resolves to loopback at delivery time is refused, and nothing is sent."""
    endpoint = create_endpoint(api, f"http://hooks.example.test:{receiver.port}/hooks")

    def rebound(host: str, port: int) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(safety, "_getaddrinfo", rebound)
    cancel_order(api, new_order(api))
    strict = make_runner(db, fast_settings(settings, allow_private_targets=False))
    strict.run_until_idle()
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "127.0.0.1, a loopback address" in row["last_error"]
    assert receiver.requests == []


def test_delivery_connects_to_the_checked_address(
    api: TestClient, receiver: Receiver, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request goes to the address that was resolved and checked, with the URL's Host."""
    endpoint = create_endpoint(api, f"http://hooks.example.test:{receiver.port}/hooks")
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[tuple[object, ...]]:
        # Only this seam knows the name: a lookup by the HTTP client itself would fail.
        lookups.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(safety, "_getaddrinfo", resolve)
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 1))
    assert receiver.accepted()[0].headers["host"] == f"hooks.example.test:{receiver.port}"
    assert lookups == ["hooks.example.test"]
