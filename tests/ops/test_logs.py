"""Structured logs: one JSON line per request and job, a request id that follows the work,
and no credential in any line."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.core.context import new_request_id
from routekeeper.core.logs import JsonFormatter, TextFormatter, redact
from routekeeper.db.engine import Database
from routekeeper.models.job import Job
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.webhooks.helpers import cancel_order, new_order
from tests.webhooks.receiver import Receiver


class Captured:
    """The lines written by a root handler with the service's JSON formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        """Everything written."""
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """Every line, parsed (each must be one JSON object)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def json_log() -> Iterator[Captured]:
    """Capture the root logger's INFO lines as the JSON format writes them."""
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(handler)
    root.setLevel(level)


def test_one_json_line_per_request_with_its_id(api: TestClient, json_log: Captured) -> None:
    """The client's X-Request-ID is kept, answered, and on the request's log line."""
    response = api.get("/orders/", headers={"X-Request-ID": "client-chosen-id.1"})
    assert response.headers["X-Request-ID"] == "client-chosen-id.1"
    lines = [r for r in json_log.records() if r.get("event") == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "client-chosen-id.1"
    assert line["route"] == "/orders/" and line["status"] == 200 and line["method"] == "GET"
    assert line["duration_ms"] >= 0 and line["level"] == "info"


def test_a_request_id_is_made_when_none_or_a_bad_one_is_sent(anon: TestClient) -> None:
    """No id, or one that is too long or has odd characters: a fresh one is answered."""
    first = anon.get("/health/live").headers["X-Request-ID"]
    second = anon.get("/health/live", headers={"X-Request-ID": "x" * 500}).headers["X-Request-ID"]
    third = anon.get("/health/live", headers={"X-Request-ID": "a b\"c"}).headers["X-Request-ID"]
    assert len({first, second, third}) == 3
    assert all(len(i) == 32 for i in (first, second, third))


def test_a_forked_process_makes_request_ids_of_its_own() -> None:
    """Ids are a process prefix and a counter: a forked child (a pre-forking server's worker)
    must not count on from its parent's prefix, or two workers would answer the same ids."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave without running the parent's cleanup
        os.write(write_end, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.close(write_end)
    parent = new_request_id()
    assert len(child) == len(parent) == 32
    assert child[:16] != parent[:16]


def test_secrets_never_reach_the_log(tenant: Tenant, anon: TestClient, json_log: Captured,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """Ingest keys (OsmAnd's id), embed tokens, link signatures and secrets are redacted."""
    api = tenant.client
    assert api.post("/workers/", json={"worker_handle": "w-log"}).status_code in (200, 201)
    key = api.post("/devices/", json={"device_id": "log-phone", "worker_handle": "w-log"}
                   ).json()["ingest_key"]
    anon.get("/osmand", params={"id": key, "lat": "60.1", "lon": "24.9"})
    anon.post(f"/osmand?deviceid={key}&lat=60.1&lon=24.9")
    anon.get("/exports/download/some-job?expires=99999999999&signature=SIGNATURE-VALUE")
    anon.get("/embed/routes/r-1?token=EMBED-TOKEN-VALUE")
    anon.post("/oauth/token", data={"grant_type": "client_credentials",
                                    "client_id": tenant.account_id,
                                    "client_secret": tenant.secret_key})
    # A message that quotes a body or a header is scrubbed as well.
    logging.getLogger("routekeeper.test").info(
        'got {"secret": "whsec_abc", "ingest_key": "%s"} Authorization: Basic %s', key,
        "dXNlcjpwYXNzd29yZA==")
    text = json_log.text
    for secret in (key, "SIGNATURE-VALUE", "EMBED-TOKEN-VALUE", tenant.secret_key,
                   "whsec_abc", "dXNlcjpwYXNzd29yZA=="):
        assert secret not in text
    assert "id=[redacted]" in text and "signature=[redacted]" in text
    assert "token=[redacted]" in text


def test_text_format_is_redacted_too() -> None:
    """The human-readable format scrubs the same way."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /osmand?id=%s&lat=1",
                               ("rkd_secretvalue",), None)
    line = TextFormatter().format(record)
    assert "rkd_secretvalue" not in line and "/osmand?id=[redacted]&lat=1" in line


@pytest.mark.parametrize(("raw", "clean"), [
    ("/osmand?id=abc&lat=1", "/osmand?id=[redacted]&lat=1"),
    ("/?lat=1&ID=abc", "/?lat=1&ID=[redacted]"),
    ("/x?expires=1&signature=s1", "/x?expires=1&signature=[redacted]"),
    ("/t/share-id-1/events", "/t/[redacted]/events"),
    ('{"client_secret": "abc"}', '{"client_secret": "[redacted]"}'),
    ("Bearer abc.def.ghi-long", "Bearer [redacted]"),
    ("/orders/?limit=5", "/orders/?limit=5"),
])
def test_redact(raw: str, clean: str) -> None:
    """Credentials in URLs, JSON and headers are replaced; the rest is kept."""
    assert redact(raw) == clean


def test_the_request_id_follows_into_jobs_and_webhook_deliveries(
    tenant: Tenant, db: Database, settings: Settings, json_log: Captured,
) -> None:
    """The id of the request that caused work is on its job row, the job's log line and the
    webhook delivery's X-Request-ID header."""
    api = tenant.client
    receiver = Receiver()
    try:
        assert api.post("/webhooks/endpoints", json={"url": receiver.url}).status_code == 201
        handle = new_order(api)
        api.headers["X-Request-ID"] = "cancel-request-1"
        cancel_order(api, handle)
        del api.headers["X-Request-ID"]
        with db.read() as session:
            ids = session.scalars(select(Job.request_id).where(
                Job.account_id == tenant.account_id, Job.task == "webhooks.deliver")).all()
        assert list(ids) == ["cancel-request-1"]
        build_runner(db, settings).run_until_idle()
        receiver.wait_for(1)
    finally:
        receiver.close()
    assert receiver.accepted()[0].headers["x-request-id"] == "cancel-request-1"
    job_lines = [r for r in json_log.records()
                 if r.get("event") == "job" and r.get("task") == "webhooks.deliver"
                 and r.get("account_id") == tenant.account_id]
    assert job_lines and job_lines[0]["request_id"] == "cancel-request-1"
    assert job_lines[0]["outcome"] == "succeeded"
