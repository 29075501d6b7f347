"""Export emails through a real SMTP server on loopback, and the signed download links."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import registry
from routekeeper.db.engine import Database
from routekeeper.exports import service, storage, tasks
from routekeeper.exports.storage import LocalStorage
from routekeeper.models.job import Job
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.exports.conftest import (
    Mailbox,
    create_orders,
    download,
    free_port,
    parse_csv,
    runner_for,
    start_export,
    status,
    with_mail,
)
from tests.factories import order_body

LINK = re.compile(r"http://testserver/exports/download/\S+")


def test_mail_carries_a_link_that_downloads_the_file(
    api: TestClient, anon: TestClient, db: Database, settings: Settings, smtp_server: Mailbox
) -> None:
    """The recipients get one email whose link downloads the export without credentials."""
    create_orders(api, order_body(), order_body(), order_body())
    job_id = start_export(api, {"email_recipients": ["a@example.com", "b@example.com"]})
    build_runner(db, with_mail(settings, smtp_server.port)).run_until_idle()
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert smtp_server.envelopes[0] == ["a@example.com", "b@example.com"]
    assert message["Subject"] == "Your order export is ready"
    body = message.get_body().get_content()  # type: ignore[union-attr]
    (url,) = LINK.findall(body)
    state = status(api, job_id)
    assert url == state["presigned_url"]
    assert state["mail_status"] == "sent" and state["mail_error"] is None
    assert len(parse_csv(download(anon, url))) == 3


def test_mail_goes_to_the_account_contact_by_default(
    api: TestClient, db: Database, settings: Settings, smtp_server: Mailbox
) -> None:
    """Without email_recipients the account's contact email gets the link."""
    job_id = start_export(api)
    build_runner(db, with_mail(settings, smtp_server.port)).run_until_idle()
    assert smtp_server.envelopes == [["ops@example.com"]]
    assert status(api, job_id)["mail_status"] == "sent"


def test_without_smtp_host_no_mail_is_sent(api: TestClient, db: Database,
                                           settings: Settings) -> None:
    """No mail host: the 201 message says no email will be sent (no promise), and the job's
    mail_status says mail is not configured, before and after it completes."""
    response = api.post("/orders/export", json={"email_recipients": ["a@example.com"]})
    assert response.status_code == 201
    message = response.json()["message"]
    assert "No mail server is configured" in message and "will be emailed" not in message
    job_id = response.json()["job_id"]
    assert status(api, job_id)["mail_status"] == "not_configured"
    runner_for(db, settings).run_until_idle()
    state = status(api, job_id)
    assert state["status"] == "completed" and state["mail_status"] == "not_configured"
    with db.read() as session:
        mail_jobs = session.scalars(select(Job.id).where(
            Job.task == "exports.mail", Job.payload["export_id"].as_string() == job_id)).all()
    assert mail_jobs == []


def test_smtp_server_down_leaves_the_export_completed(
    api: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mail failures retry and finally give up, and never fail the export or its link."""
    monkeypatch.setattr(tasks, "MAIL_MAX_ATTEMPTS", 2)
    create_orders(api, order_body())
    job_id = start_export(api)
    mail = with_mail(settings, free_port())
    # The retry falls due only when this test says so (below). With the session's 0.1 s
    # backoff it fell due inside run_until_idle whenever the loop spent that long on other
    # due jobs of the queue the session's tests share (seen on PostgreSQL): the second
    # attempt then ran at once and the mail was already 'failed' at the first check.
    mail = mail.model_copy(update={"jobs": mail.jobs.model_copy(
        update={"retry_base_s": 600.0, "retry_max_s": 600.0})})
    runner = build_runner(db, mail)
    runner.run_until_idle()
    state = status(api, job_id)
    assert state["status"] == "completed" and state["presigned_url"]
    assert state["mail_status"] == "retrying"
    assert "ConnectionRefusedError" in state["mail_error"]
    with db.write() as session:  # make the retry due now instead of waiting for backoff
        session.execute(update(Job).where(Job.task == "exports.mail",
                                          Job.payload["export_id"].as_string() == job_id)
                        .values(run_at=utcnow()))
    runner.run_until_idle()
    state = status(api, job_id)
    assert state["status"] == "completed" and state["mail_status"] == "failed"
    assert len(parse_csv(download(api, state["presigned_url"]))) == 1


def test_failed_export_is_reported_by_mail_and_event(
    api: TestClient, tenant: Tenant, db: Database, settings: Settings,
    smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the last attempt fails, the export is failed with a reason, one ``failed``
    event is written, and the recipients are told."""

    def full_disk(self: LocalStorage, staged: Any, key: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalStorage, "publish", full_disk)
    create_orders(api, order_body())
    job_id = start_export(api)
    # This attempt is the last one (the limit lives on the job row and the task's spec).
    spec = registry.get(service.GENERATE_TASK)
    assert spec is not None
    monkeypatch.setattr(spec, "max_attempts", 1)
    with db.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(max_attempts=1))
    build_runner(db, with_mail(settings, smtp_server.port)).run_until_idle()
    state = status(api, job_id)
    assert state["status"] == "failed" and state["presigned_url"] is None
    assert "OSError" in state["error_message"] and state["completed_at"] is None
    assert state["mail_status"] == "sent"
    assert smtp_server.messages[0]["Subject"] == "Your order export failed"
    assert "OSError" in smtp_server.messages[0].get_body().get_content()  # type: ignore[union-attr]
    with db.read() as session:
        values = session.scalars(select(OutboxEvent.value).where(
            OutboxEvent.account_id == tenant.account_id, OutboxEvent.type == "export")).all()
    assert values == ["failed"]
    assert list(settings.exports.local_dir.rglob(f"*{job_id}*")) == []


def _link(api: TestClient, db: Database, settings: Settings, **exports: Any) -> str:
    create_orders(api, order_body())
    job_id = start_export(api)
    runner_for(db, settings, **exports).run_until_idle()
    url: str = status(api, job_id)["presigned_url"]
    return url.removeprefix("http://testserver")


def _forbidden(anon: TestClient, path: str) -> None:
    response = anon.get(path)
    assert response.status_code == 403, path
    assert response.json() == {"detail": {}, "message": "Forbidden"}


def test_link_expiry_follows_the_ttl_setting(
    api: TestClient, anon: TestClient, db: Database, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """expires_at is completion + link_ttl_s; after it the link is a bare 403."""
    link = _link(api, db, settings, link_ttl_s=120)
    job_id = link.split("/")[3].split("?")[0]
    state = status(api, job_id)
    completed = datetime.fromisoformat(state["completed_at"])
    assert datetime.fromisoformat(state["expires_at"]) - completed == timedelta(seconds=120)
    assert anon.get(link).status_code == 200
    later = utcnow() + timedelta(seconds=121)
    monkeypatch.setattr(storage, "utcnow", lambda: later)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    _forbidden(anon, link)
    assert status(api, job_id)["presigned_url"] is None


def test_tampered_links_are_a_bare_403(api: TestClient, anon: TestClient, db: Database,
                                       settings: Settings) -> None:
    """Any change to the id, the expiry or the signature, or a missing part, is a 403."""
    link = _link(api, db, settings)
    other = _link(api, db, settings)
    path, query = link.split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    other_path = other.split("?")[0]
    flipped = params["signature"][:-1] + ("A" if params["signature"][-1] != "A" else "B")
    for bad in (
        f"{path}?{urlencode({**params, 'signature': flipped})}",
        f"{path}?{urlencode({**params, 'expires': int(params['expires']) + 3600})}",
        f"{other_path}?{query}",
        f"{path}?{urlencode({'expires': params['expires']})}",
        f"{path}?{urlencode({'signature': params['signature']})}",
        path,
        f"{path}?{urlencode({**params, 'expires': 'soon'})}",
    ):
        _forbidden(anon, bad)
    assert urlsplit(link).path.startswith("/exports/download/")
    assert anon.get(link).status_code == 200
