"""Helpers of the export tests: job runners with chosen settings, a real SMTP server, and
readers of the exported files."""

from __future__ import annotations

import csv
import gzip
import io
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.settings import MailSettings, Settings
from routekeeper.worker import build_runner
from tests.factories import create_orders_body, order_body


def runner_for(db: Database, settings: Settings, **exports: Any) -> JobRunner:
    """A job runner whose tasks see ``settings`` with these export settings changed."""
    changed = settings.model_copy(
        update={"exports": settings.exports.model_copy(update=exports)} if exports else {}
    )
    return build_runner(db, changed)


def with_mail(settings: Settings, port: int, host: str = "127.0.0.1") -> Settings:
    """``settings`` with plain SMTP to ``host:port``."""
    return settings.model_copy(update={"mail": MailSettings(host=host, port=port, timeout_s=5)})


def free_port() -> int:
    """A loopback port nothing listens on (the OS picked it from the ephemeral range)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Mailbox:
    """Messages an SMTP server on loopback received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message and its envelope recipients."""
        message = BytesParser(policy=default_policy).parsebytes(envelope.content)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port for one test."""
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def create_orders(api: TestClient, *orders: dict[str, Any]) -> list[dict[str, Any]]:
    """Create orders through the API and return their wire shapes."""
    response = api.post("/orders/", json=create_orders_body(*orders))
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["orders"]
    return created


def varied_orders(api: TestClient, count: int = 12) -> list[dict[str, Any]]:
    """Orders with different customers, priorities, types and statuses (some cancelled)."""
    bodies = []
    for index in range(count):
        bodies.append(order_body(
            metadata={"customer": "globex" if index % 3 == 0 else "acme", "n": index},
            priority=("low", "medium", "high")[index % 3],
            type="pick" if index % 4 == 0 else "drop",
            product_type=["frozen"] if index % 2 else [],
        ))
    orders = create_orders(api, *bodies)
    for order in orders[::4]:
        response = api.post(f"/orders/{order['order_handle']}/cancel",
                            params={"type": order["type"]})
        assert response.status_code == 200, response.text
    return orders


def start_export(api: TestClient, body: dict[str, Any] | None = None,
                 **headers: str) -> str:
    """POST /orders/export and return the job id."""
    response = api.post("/orders/export", json=body or {}, headers=headers or None)
    assert response.status_code == 201, response.text
    assert response.json()["status"] in ("pending", "processing", "completed")
    job_id: str = response.json()["job_id"]
    return job_id


def status(api: TestClient, job_id: str, *, kind: str = "orders") -> dict[str, Any]:
    """GET /orders/export/{job_id} (or /workers/export/{job_id} of a workers' job)."""
    response = api.get(f"/{kind}/export/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def download(client: TestClient, url: str) -> bytes:
    """Fetch an export link through the API (no credentials needed: the link is signed)."""
    assert url.startswith("http://testserver/exports/download/"), url
    response = client.get(url.removeprefix("http://testserver"), auth=None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    return response.content


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """Decompress and parse an export file into dicts by header."""
    text = gzip.decompress(data).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def list_all(api: TestClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /orders/ with ``params``, following pagination tokens to the end."""
    orders: list[dict[str, Any]] = []
    query = {**params, "limit": 5}
    while True:
        response = api.get("/orders/", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        orders.extend(page["orders"])
        if not page["pagination_token"]:
            return orders
        query = {**query, "pagination_token": page["pagination_token"]}


def identity(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """What tells two order rows apart: handle, type, type index and attempt."""
    return (str(row["order_handle"]), str(row["type"]), str(row["type_index"]),
            str(row["fulfillment_attempt"]))
