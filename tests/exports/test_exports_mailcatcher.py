"""The demo's mail catcher (``serve --mail-catcher``): a real export email lands in its mbox."""

from __future__ import annotations

import mailbox
import smtplib
from pathlib import Path

from starlette.testclient import TestClient

from routekeeper.cli.mailcatcher import MailCatcher
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.exports.conftest import create_orders, runner_for, status, with_mail
from tests.factories import order_body


def test_export_mail_lands_in_the_mbox(api: TestClient, db: Database, settings: Settings,
                                       tmp_path: Path) -> None:
    """With the catcher as SMTP server the 201 promises the email, and it arrives."""
    path = tmp_path / "mail" / "demo.mbox"
    catcher = MailCatcher(path)
    port = catcher.start()
    try:
        create_orders(api, order_body())
        response = api.post("/orders/export", json={"email_recipients": ["ops@example.com"]})
        assert response.status_code == 201
        job_id = response.json()["job_id"]
        mailed = with_mail(settings, port)
        runner_for(db, mailed).run_until_idle()
        assert status(api, job_id)["mail_status"] == "sent"
    finally:
        catcher.stop()
    (message,) = list(mailbox.mbox(str(path)))
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "Your order export is ready"
    assert job_id in message.get_payload(decode=True).decode()


def test_dot_stuffing_and_rset(tmp_path: Path) -> None:
    """Lines starting with a dot survive; a reset transaction keeps nothing."""
    path = tmp_path / "box.mbox"
    catcher = MailCatcher(path)
    port = catcher.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.ehlo()
            client.mail("a@example.com")
            client.rset()
            client.sendmail("a@example.com", ["b@example.com"],
                            "Subject: dots\r\n\r\n.leading dot\r\nend\r\n")
    finally:
        catcher.stop()
    (message,) = list(mailbox.mbox(str(path)))
    assert message.get_payload() == ".leading dot\nend\n"
