"""The console driven end to end in Debian's chromium: sign in, add a webhook endpoint and see
its test delivery, replay it, register a device and scan its QR code, export orders, rotate
the API secret and see the old one refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from standardwebhooks import Webhook

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.webhooks.receiver import Receiver

from .conftest import LiveServer, Outside, open_context, screenshot

pytestmark = pytest.mark.browser


PUBLIC_URL = "https://routekeeper.example.com"


@pytest.fixture(scope="module")
def console_settings(view_settings: Settings) -> Settings:
    """The views' settings with a public URL such as an install behind a proxy has."""
    return view_settings.model_copy(update={"configured_public_url": PUBLIC_URL})


@pytest.fixture(scope="module")
def console_server(console_settings: Settings) -> Iterator[LiveServer]:
    """The app with that public URL on a loopback port."""
    server = LiveServer(create_app(console_settings, run_worker=False))
    server.start()
    yield server
    server.stop()


def run_jobs(db: Database, settings: Settings) -> None:
    """Run every due job now (the live server has no worker of its own)."""
    build_runner(db, settings).run_until_idle()


def unlabelled_fields(page: Any) -> list[str]:
    """Form fields a screen reader could not name (no label, no aria-label)."""
    result: list[str] = page.evaluate("""() => Array.from(
        document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !(el.tagName === 'BUTTON' && el.textContent.trim()))
        .map(el => el.outerHTML)""")
    return result


def nav(page: Any, name: str) -> None:
    """Follow a link of the console's navigation."""
    page.get_by_role("navigation", name="Console").get_by_role("link", name=name).click()


def sign_in(page: Any, base: str, tenant: Tenant) -> None:
    """Sign in with the keyboard only: type the id, tab, type the secret, press Enter."""
    page.goto(f"{base}/console")
    assert page.url == f"{base}/console/login"
    assert unlabelled_fields(page) == []
    page.get_by_label("Account ID").focus()
    page.keyboard.type(tenant.account_id)
    page.keyboard.press("Tab")
    page.keyboard.type(tenant.secret_key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console")
    assert page.get_by_role("heading", level=1).inner_text() == "Test"


@pytest.mark.slow
def test_console_end_to_end(
    tenant: Tenant, db: Database, console_settings: Settings, console_server: LiveServer,
    browser: Any, outside: Outside,
) -> None:
    """Every console task through the browser, checked against what the service did."""
    view_settings = console_settings
    base = console_server.url
    context = open_context(browser, outside, width=1100, height=900)
    page = context.new_page()
    receiver = Receiver()
    try:
        sign_in(page, base, tenant)

        # Webhooks: add an endpoint; its test delivery arrives signed with the shown secret.
        nav(page, "Webhooks")
        assert unlabelled_fields(page) == []
        page.get_by_label("Receiver URL").fill(receiver.url)
        page.get_by_label("Description (optional)").fill("Dispatch system")
        page.get_by_role("button", name="Add and send a test delivery").click()
        secret = page.locator("#signing-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        run_jobs(db, view_settings)
        receiver.wait_for(1)
        request = receiver.accepted()[0]
        assert Webhook(secret).verify(request.body, request.headers) == request.events()
        assert request.events()[0]["type"] == "test"
        page.get_by_role("link", name="(refresh)").click()
        row = page.locator("#deliveries tbody tr").first
        assert "test.ping" in row.inner_text() and "delivered" in row.inner_text()
        assert "HTTP 200" in row.inner_text()
        assert page.locator("#signing-secret").count() == 0  # shown once only
        screenshot(page, "console-webhook.png")
        # Replay it: the receiver gets the same event id again.
        row.get_by_role("button", name="Replay").click()
        run_jobs(db, view_settings)
        receiver.wait_for(2)
        assert receiver.accepted()[1].events()[0]["id"] == request.events()[0]["id"]
        page.reload()
        assert "(replay)" in page.locator("#deliveries tbody tr").first.inner_text()

        # Devices: register one; the QR code, decoded, is a working tracking address.
        created = tenant.client.post("/workers/", json={"worker_handle": "w-console",
                                                        "name": "Console Driver"})
        assert created.status_code in (200, 201), created.text
        nav(page, "Devices")
        assert unlabelled_fields(page) == []
        page.get_by_label("Device ID").fill("console-phone")
        page.get_by_label("Worker handle").fill("w-console")
        page.get_by_role("button", name="Register and show the ingest key").click()
        key = page.locator("#ingest-key").inner_text().strip()
        assert key.startswith("rkd_")
        assert page.locator("#device-identifier").inner_text().strip() == key
        image = Image.open(io.BytesIO(page.locator("#qr svg").screenshot()))
        decoded = [result.text for result in zxingcpp.read_barcodes(image)]
        assert decoded == [f"{view_settings.public_url}/osmand?id={key}"]
        screenshot(page, "console-device.png")
        address = decoded[0].replace(view_settings.public_url, base)
        upload = httpx.get(f"{address}&lat=60.1699&lon=24.9384", timeout=10)
        assert upload.status_code == 200, upload.text
        assert upload.json()["accepted"] == 1

        # Exports: start one, run it, and find the download link.
        nav(page, "Exports")
        assert unlabelled_fields(page) == []
        page.get_by_role("button", name="Start the export").click()
        assert page.locator("#export-status").inner_text() in ("pending", "processing")
        run_jobs(db, view_settings)
        page.reload()
        assert page.locator("#export-status").inner_text() == "completed"
        assert page.locator("#download").count() == 1

        # The API secret: rotate it; the old one is refused at once, the new one works.
        nav(page, "API secret")
        page.get_by_label("I understand that the old secret key stops working").check()
        page.get_by_role("button", name="Rotate the secret key").click()
        new_secret = page.locator("#new-secret").inner_text().strip()
        assert new_secret and new_secret != tenant.secret_key
        screenshot(page, "console-secret.png")
        old = httpx.get(f"{base}/workers/", auth=(tenant.account_id, tenant.secret_key))
        assert old.status_code == 401
        new = httpx.get(f"{base}/workers/", auth=(tenant.account_id, new_secret))
        assert new.status_code == 200
        # The console session follows the new secret; signing out ends it.
        nav(page, "Overview")
        assert page.get_by_role("heading", level=1).inner_text() == "Test"
        page.get_by_role("button", name="Sign out of Test").click()
        page.goto(f"{base}/console/devices")
        assert page.url == f"{base}/console/login"
    finally:
        receiver.close()
        context.close()
    assert outside.urls == []
