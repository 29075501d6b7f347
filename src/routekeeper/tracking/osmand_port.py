"""The optional dedicated OsmAnd port: the OsmAnd endpoint at the root of a second port.

Traccar Client and OsmAnd are usually pointed at ``http://host:5055`` with no path. When
``settings.tracking.osmand_port`` is set, the API app starts a small second uvicorn server on
that port (all interfaces: devices are remote) for the lifetime of the app, in a thread with
its own event loop, sharing the app's database, settings and travel model.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from routekeeper.core.handlers import install_error_handlers
from routekeeper.core.http_protocol import CorkedHttpToolsProtocol
from routekeeper.core.limits import BodySizeLimit
from routekeeper.core.observe import RequestObserver
from routekeeper.tracking import endpoints
from routekeeper.tracking.fastpath import OsmandFastPath

# All interfaces: devices connect from anywhere, as to Traccar's port 5055.
BIND_HOST = "0.0.0.0"
START_TIMEOUT_S = 10.0


def osmand_app(main: FastAPI) -> FastAPI:
    """An app answering OsmAnd at ``/`` (and ``/osmand``) with ``main``'s resources."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    # The guard too: failed ingest keys on this port count against the same limits; and the
    # upload writer, so both ports' uploads are written in the same groups.
    for name in ("settings", "db", "travel", "guard", "uploads"):
        setattr(app.state, name, getattr(main.state, name))
    install_error_handlers(app)

    async def handle(request: Request) -> JSONResponse:
        return await endpoints.osmand_request(request)

    for path in ("/", "/osmand"):
        app.add_api_route(path, handle, methods=["GET", "POST"], include_in_schema=False)
    app.add_middleware(BodySizeLimit, max_bytes=main.state.settings.api.max_body_bytes)
    app.add_middleware(OsmandFastPath, paths=("/", "/osmand"))
    app.add_middleware(RequestObserver)
    return app


class OsmandServer:
    """A uvicorn server on its own thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host=BIND_HOST, port=port, log_level="warning",
                                access_log=False, lifespan="off", http=CorkedHttpToolsProtocol)
        self.port = port
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="rk-osmand", daemon=True)

    def _run(self) -> None:
        # uvicorn exits the process (here: the thread) when it cannot bind; start() reports it.
        with contextlib.suppress(SystemExit):
            self.server.run()

    def start(self) -> None:
        """Start serving; raise when the port cannot be opened."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the OsmAnd port {self.port} could not be opened")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT_S)


def install_osmand_port(app: FastAPI) -> None:
    """Serve OsmAnd on ``settings.tracking.osmand_port`` while ``app`` runs (no-op if unset)."""
    port = app.state.settings.tracking.osmand_port
    if port is None:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(main: FastAPI) -> AsyncIterator[Any]:
        server = OsmandServer(osmand_app(main), port)
        server.start()
        try:
            async with inner(main) as state:
                yield state
        finally:
            server.stop()

    app.router.lifespan_context = lifespan
