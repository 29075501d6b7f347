"""The workers' export (``POST /workers/export``, ``GET /workers/export/{job_id}``): the
orders' export job with the workers ``GET /workers/`` lists, through the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.exports.conftest import (
    Mailbox,
    download,
    parse_csv,
    runner_for,
    status,
    with_mail,
)
from tests.workers.helpers import assert_coded_error, assert_validation_error, ops_group_body

LINK = re.compile(r"http://testserver/exports/download/\S+")


def _worker(api: TestClient, handle: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/workers/", json={"worker_handle": handle, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _start(api: TestClient, body: dict[str, Any] | None = None, **headers: str) -> str:
    response = api.post("/workers/export", json=body or {}, headers=headers or None)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"job_id", "status", "message"}
    assert created["status"] == "pending"
    job_id: str = created["job_id"]
    return job_id


def _status(api: TestClient, job_id: str) -> dict[str, Any]:
    return status(api, job_id, kind="workers")


def _crew(api: TestClient) -> str:
    """Three live workers in two ops groups and a deleted one; the second group's handle."""
    group = api.post("/workers/ops-groups/", json=ops_group_body()).json()["ops_group_handle"]
    _worker(api, "ann", name="Ann Lee", profile={"zone": "north"}, product_types=["frozen"],
            schedule=[{"day_of_week": "MONDAY", "start_time": "08:00", "end_time": "16:00"}])
    _worker(api, "bob", name="Bob", ops_group_handle=group, capacity=12,
            work_status={"available": False, "tracking": True})
    _worker(api, "cid", name="Cid", ops_group_handle=group, metadata={"team": "b"})
    _worker(api, "gone", name="Gone")
    assert api.delete("/workers/gone").status_code == 204
    return group


def _listed(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/workers/", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    workers: list[dict[str, Any]] = response.json()["workers"]
    return workers


def test_workers_export_lists_what_get_workers_lists(
    api: TestClient, anon: TestClient, db: Database, settings: Settings
) -> None:
    """The job completes with one row per live worker, each row GET /workers/'s worker
    flattened (work_status as two columns, lists and objects as JSON, stamps as on the
    wire), and the link downloads it without credentials."""
    _crew(api)
    job_id = _start(api)
    pending = _status(api, job_id)
    assert pending["status"] == "pending" and pending["presigned_url"] is None
    runner_for(db, settings).run_until_idle()
    state = _status(api, job_id)
    assert state["status"] == "completed" and state["rows_processed"] == 3
    assert state["completed_at"] and state["error_message"] is None
    rows = parse_csv(download(anon, state["presigned_url"]))
    listed = _listed(api)
    assert [row["worker_handle"] for row in rows] == [w["worker_handle"] for w in listed]
    by_handle = {row["worker_handle"]: row for row in rows}
    for worker in listed:
        row = by_handle[worker["worker_handle"]]
        assert row["name"] == worker["name"]
        assert row["ops_group_handle"] == worker["ops_group_handle"]
        assert row["available"] == str(worker["work_status"]["available"]).lower()
        assert row["tracking"] == str(worker["work_status"]["tracking"]).lower()
        assert row["created_at"] == worker["created_at"]
    assert by_handle["bob"]["available"] == "false" and by_handle["bob"]["tracking"] == "true"
    assert by_handle["bob"]["capacity"] == "12" and by_handle["ann"]["capacity"] == ""
    assert by_handle["ann"]["product_types"] == '["frozen"]'
    assert '"zone": "north"' in by_handle["ann"]["profile"]
    assert '"MONDAY"' in by_handle["ann"]["schedule"]
    assert by_handle["cid"]["metadata"] == '{"team": "b"}'


@pytest.mark.parametrize("as_list", [False, True])
def test_workers_export_applies_the_list_filters(
    api: TestClient, anon: TestClient, db: Database, settings: Settings, as_list: bool
) -> None:
    """ops_group_handle (a comma list, or a JSON list) and search_term select the rows GET
    /workers/ selects with them; paging fields and unknown fields are ignored."""
    group = _crew(api)
    groups: Any = [group, "nowhere"] if as_list else f"{group},nowhere"
    job_id = _start(api, {"ops_group_handle": groups, "search_term": "CI", "limit": 1,
                          "pagination_token": "x", "include_deleted": True})
    runner_for(db, settings).run_until_idle()
    state = _status(api, job_id)
    rows = parse_csv(download(anon, state["presigned_url"]))
    expected = _listed(api, ops_group_handle=f"{group},nowhere", search_term="CI")
    assert [r["worker_handle"] for r in rows] == [w["worker_handle"] for w in expected]
    assert [r["worker_handle"] for r in rows] == ["cid"]


def test_an_empty_workers_export_has_the_header_only(
    api: TestClient, anon: TestClient, db: Database, settings: Settings
) -> None:
    """No worker matches: the export completes with zero rows and a file with the header."""
    job_id = _start(api, {"search_term": "nobody"})
    runner_for(db, settings).run_until_idle()
    state = _status(api, job_id)
    assert state["status"] == "completed" and state["rows_processed"] == 0
    assert parse_csv(download(anon, state["presigned_url"])) == []


def test_workers_and_orders_jobs_are_apart(api: TestClient, other_tenant: Any) -> None:
    """A workers' job is not found under /orders/export nor an orders' job under
    /workers/export, nor either by another account: 404 in the Error shape."""
    workers_job = _start(api)
    response = api.post("/orders/export", json={})
    assert response.status_code == 201
    orders_job = response.json()["job_id"]
    assert_coded_error(api.get(f"/orders/export/{workers_job}"), 404, "export_not_found")
    assert_coded_error(api.get(f"/workers/export/{orders_job}"), 404, "export_not_found")
    assert_coded_error(api.get("/workers/export/nope"), 404, "export_not_found")
    assert_coded_error(other_tenant.client.get(f"/workers/export/{workers_job}"), 404,
                       "export_not_found")


def test_workers_export_errors(api: TestClient, anon: TestClient) -> None:
    """Bad bodies are 422s naming the field; no credentials is a 401."""
    assert_validation_error(api.post("/workers/export", json={"email_recipients": ["x"]}),
                            "json", "email_recipients.0")
    assert_validation_error(api.post("/workers/export", json={"search_term": 5}),
                            "json", "search_term")
    assert anon.post("/workers/export", json={}).status_code == 401
    assert anon.get("/workers/export/anything").status_code == 401


def test_idempotency_key_is_per_kind(api: TestClient) -> None:
    """The same Idempotency-Key answers the same workers' job again; used for an orders'
    export it is a 409, not that job."""
    first = _start(api, {"search_term": "a"}, **{"Idempotency-Key": "k-1"})
    assert _start(api, {"search_term": "a"}, **{"Idempotency-Key": "k-1"}) == first
    response = api.post("/orders/export", json={}, headers={"Idempotency-Key": "k-1"})
    assert_coded_error(response, 409, "idempotency_key_reused")


def test_workers_export_mail(
    api: TestClient, anon: TestClient, db: Database, settings: Settings, smtp_server: Mailbox
) -> None:
    """With a mail server, the recipients get a worker export email whose link downloads
    the file."""
    _crew(api)
    job_id = _start(api, {"email_recipients": ["a@example.com"]})
    build_runner(db, with_mail(settings, smtp_server.port)).run_until_idle()
    # The queue is shared by the session's tests: pick this job's email among any others.
    mine = [(m, to) for m, to in zip(smtp_server.messages, smtp_server.envelopes, strict=True)
            if job_id in m.get_body().get_content()]  # type: ignore[union-attr]
    assert len(mine) == 1
    message, envelope = mine[0]
    assert envelope == ["a@example.com"]
    assert message["Subject"] == "Your worker export is ready"
    (url,) = LINK.findall(message.get_body().get_content())  # type: ignore[union-attr]
    state = _status(api, job_id)
    assert url == state["presigned_url"] and state["mail_status"] == "sent"
    assert len(parse_csv(download(anon, url))) == 3


def test_without_mail_server_the_answer_says_so(api: TestClient) -> None:
    """No SMTP server: the 201 message and the job's mail_status say no email will come."""
    response = api.post("/workers/export", json={"email_recipients": ["a@example.com"]})
    assert response.status_code == 201
    message = response.json()["message"]
    assert "No mail server is configured" in message and "/workers/export/" in message
    assert _status(api, response.json()["job_id"])["mail_status"] == "not_configured"


def test_worker_handle_filter_as_get_workers(
    api: TestClient, anon: TestClient, db: Database, settings: Settings
) -> None:
    """worker_handle (HyperTrack's comma list of handles) selects those live workers, in
    the export as in GET /workers/; a deleted or unknown handle selects nothing."""
    _crew(api)
    listed = _listed(api, worker_handle="cid,ann,gone,ghost")
    assert [w["worker_handle"] for w in listed] == ["ann", "cid"]
    job_id = _start(api, {"worker_handle": ["cid", "ann", "gone", "ghost"]})
    runner_for(db, settings).run_until_idle()
    rows = parse_csv(download(anon, _status(api, job_id)["presigned_url"]))
    assert [r["worker_handle"] for r in rows] == ["ann", "cid"]
