"""Contract section 2.9: export jobs (of orders and of workers), their status, and honest
answers about mail."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.contract.spec import answers, conforms, fails


def test_export_job_and_status(api: TestClient) -> None:
    """201 with job_id/status/message; the status conforms; an unknown job is a 404 Error."""
    created = answers("create_export", api.post("/orders/export", json={
        "status": "unplanned", "email_recipients": ["ops@example.com"]}))
    # No mail server in the test settings: the answer says so instead of promising mail.
    assert "No mail server is configured" in created["message"]
    state = answers("export_status", api.get(f"/orders/export/{created['job_id']}"))
    conforms("ExportStatus", state)
    assert state["mail_status"] == "not_configured"
    fails("export_status", api.get("/orders/export/nope"), 404, "Error")


def test_worker_export_job_and_status(api: TestClient) -> None:
    """The workers' export answers the identical job shapes (201, status), takes GET
    /workers/'s filters and ignores other fields; an unknown job is a 404 Error."""
    assert api.post("/workers/", json={"worker_handle": "w-export"}).status_code == 201
    created = answers("create_worker_export", api.post("/workers/export", json={
        "ops_group_handle": "default", "search_term": "w-", "include_deleted": False}))
    state = answers("worker_export_status", api.get(f"/workers/export/{created['job_id']}"))
    assert state["job_id"] == created["job_id"] and state["status"] == "pending"
    fails("worker_export_status", api.get("/workers/export/nope"), 404, "Error")
    fails("create_worker_export", api.post("/workers/export", json={
        "email_recipients": "not-a-list"}), 422, "ValidationError")
