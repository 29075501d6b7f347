"""An endpoint failing continuously is disabled, and the account's contact gets an email."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.settings import MailSecurity, MailSettings, Settings

from .helpers import (
    all_final,
    cancel_order,
    create_endpoint,
    deliveries,
    drain,
    fast_settings,
    make_runner,
    new_order,
)
from .receiver import Receiver


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store the message and accept it."""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (made with the openssl CLI)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def _start(inbox: Inbox, **options: Any) -> tuple[Controller, int]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller, port


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A plain SMTP server on loopback and its inbox."""
    box = Inbox()
    controller, port = _start(box)
    yield box, port
    controller.stop()


def _mail_settings(settings: Settings, **mail: Any) -> Settings:
    base = fast_settings(settings, disable_after_s=0.3)
    return base.model_copy(update={"mail": MailSettings(**mail)})


def _fail_until_disabled(api: TestClient, receiver: Receiver, runner: JobRunner) -> dict[str, Any]:
    receiver.default_status = 503
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    path = f"/webhooks/endpoints/{endpoint['id']}"
    drain(runner, lambda: api.get(path).json()["disabled_notification"] is not None)
    data: dict[str, Any] = api.get(path).json()
    return data


def test_continuous_failure_disables_and_mails_the_contact(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    """After disable_after_s of failures the endpoint is off and ops@ gets a real email."""
    box, port = inbox
    runner = make_runner(db, _mail_settings(settings, host="127.0.0.1", port=port,
                                            sender="hooks@routekeeper.test"))
    endpoint = _fail_until_disabled(api, receiver, runner)
    assert endpoint["enabled"] is False and endpoint["disabled_at"] is not None
    assert "HTTP 503" in endpoint["disabled_reason"]
    assert endpoint["disabled_notification"].startswith("Mail sent to ops@example.com")
    [(recipients, message)] = [m for m in box.messages if receiver.url in m[1]["Subject"]]
    assert recipients == ["ops@example.com"]
    assert message["From"] == "hooks@routekeeper.test"
    assert message["Subject"] == f"Webhook endpoint disabled: {receiver.url}"
    text = message.get_payload(decode=True).decode()
    assert endpoint["id"] in text and '{"enabled": true}' in text and "only_failed" in text
    # The failed event stays failed (replay brings it back); no more attempts are made.
    [row] = deliveries(api, endpoint["id"])
    assert row["status"] == "failed"
    sent = len(receiver.requests)
    cancel_order(api, new_order(api))
    runner.run_until_idle()
    assert len(receiver.requests) == sent and len(deliveries(api, endpoint["id"])) == 1


def test_without_a_mail_host_the_missing_mail_is_recorded(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings
) -> None:
    """No SMTP host configured: the endpoint says that no mail was sent, and why."""
    runner = make_runner(db, _mail_settings(settings, host=None))
    endpoint = _fail_until_disabled(api, receiver, runner)
    assert endpoint["enabled"] is False
    assert endpoint["disabled_notification"].startswith("No mail sent: no SMTP host")


@pytest.mark.parametrize("security", [MailSecurity.STARTTLS, MailSecurity.TLS])
def test_mail_over_tls(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings,
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, security: MailSecurity,
) -> None:
    """STARTTLS and implicit TLS both deliver the mail, with the server's certificate checked."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    # Our client trusts the system store: make the throwaway certificate part of it.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    box = Inbox()
    options: dict[str, Any] = (
        {"tls_context": server_tls, "require_starttls": True}
        if security == MailSecurity.STARTTLS else {"ssl_context": server_tls}
    )
    controller, port = _start(box, **options)
    try:
        runner = make_runner(db, _mail_settings(settings, host="127.0.0.1", port=port,
                                                security=security))
        endpoint = _fail_until_disabled(api, receiver, runner)
    finally:
        controller.stop()
    assert endpoint["disabled_notification"].startswith("Mail sent to ops@example.com")
    # The session's job queue is shared: a notice left by another test's endpoint may reach
    # this inbox too, so only this endpoint's mail is counted (exactly one).
    mine = [m for m in box.messages if receiver.url in m[1]["Subject"]]
    assert len(mine) == 1


def test_enabling_again_resumes_delivery(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings
) -> None:
    """A disabled endpoint enabled through the API gets new events again."""
    runner = make_runner(db, _mail_settings(settings, host=None))
    endpoint = _fail_until_disabled(api, receiver, runner)
    receiver.default_status = 200
    path = f"/webhooks/endpoints/{endpoint['id']}"
    enabled = api.patch(path, json={"enabled": True}).json()
    assert enabled["enabled"] is True and enabled["failing_since"] is None
    assert enabled["disabled_notification"] is None
    cancel_order(api, new_order(api))
    drain(runner, all_final(api, endpoint["id"], 2))
    assert [r["status"] for r in deliveries(api, endpoint["id"])] == ["delivered", "failed"]
