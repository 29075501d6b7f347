"""Fixtures of the views tests: the app served by uvicorn on a loopback port, and Debian's
headless Chromium driven by Playwright (tests marked ``browser`` skip when it is missing).

The served app shares the test database and secret with the session's app, so links the API
hands out open here. Its tiles come from a path of its own that does not exist: the pages must
draw their routes on a plain background, and every request that would leave the loopback
interface is refused in the browser (and counted, so a test can say none was tried).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI

from routekeeper.app import create_app
from routekeeper.core.http_protocol import CorkedHttpToolsProtocol
from routekeeper.settings import Settings, ViewSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--dns-prefetch-disable",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Tiles are asked of this server at a path it does not serve: the offline case, on purpose.
OFFLINE_TILES = "/no-tiles/{z}/{x}/{y}.png"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the browser tests, saying why, when Debian's chromium is not installed."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install -y chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


class LiveServer:
    """An app served by uvicorn in a background thread on an ephemeral loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        # The HTTP protocol ``routekeeper serve`` runs (the pages' event streams go through it).
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                ws="none", timeout_graceful_shutdown=2,
                                http=CorkedHttpToolsProtocol)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="views-live-server", daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving, wait until the server accepts connections, and warm it up: FastAPI
        prepares every route on an app's first request (about a second here), which is the
        server starting, not a page loading."""
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        with urllib.request.urlopen(f"{self.url}/health", timeout=15) as response:
            assert response.status == 200

    def stop(self) -> None:
        """Stop serving (open event streams are closed after a short grace period)."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture(scope="module")
def view_settings(settings: Settings) -> Settings:
    """The session's settings with offline tiles."""
    return settings.model_copy(update={"views": ViewSettings(tile_url=OFFLINE_TILES,
                                                             tile_attribution="Test tiles")})


@pytest.fixture(scope="module")
def live_server(view_settings: Settings) -> Iterator[LiveServer]:
    """The app on a loopback port, for the browser."""
    server = LiveServer(create_app(view_settings, run_worker=False))
    server.start()
    yield server
    server.stop()


@dataclass
class Outside:
    """Requests the browser tried to send beyond the loopback interface (all refused)."""

    urls: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; Playwright gives every launch a fresh temporary profile
    (its own ``--user-data-dir``, which it refuses to take as an argument)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def outside() -> Outside:
    """The record of refused outside requests of one test."""
    return Outside()


def _guard(outside: Outside) -> Any:
    def handle(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1",
                                                                          "localhost"):
            route.continue_()
        else:
            outside.urls.append(route.request.url)
            route.abort()
    return handle


def open_context(browser: Any, outside: Outside, *, width: int, height: int,
                 credentials: tuple[str, str] | None = None, mobile: bool = False) -> Any:
    """A browser context of one viewport that refuses every request off the loopback."""
    options: dict[str, Any] = {"viewport": {"width": width, "height": height},
                               "device_scale_factor": 1, "locale": "en-GB",
                               "timezone_id": "UTC"}
    if mobile:
        options.update(is_mobile=True, has_touch=True)
    if credentials is not None:
        options["http_credentials"] = {"username": credentials[0],
                                       "password": credentials[1]}
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    context.route("**/*", _guard(outside))
    return context


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of the page under docs/screenshots/ (unless told not to)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / name
    if os.environ.get("ROUTEKEEPER_NO_SCREENSHOTS"):
        target = Path(tempfile.mkdtemp()) / name
    page.screenshot(path=str(target), full_page=False)
    return target
