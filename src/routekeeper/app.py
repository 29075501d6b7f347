"""The application factory: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from routekeeper import __version__
from routekeeper.accounts.limits import Guard
from routekeeper.api import include_routers
from routekeeper.core.forwarded import ForwardedBase
from routekeeper.core.guards import RefuseUnmatchableTargets
from routekeeper.core.handlers import install_error_handlers
from routekeeper.core.limits import BodySizeLimit
from routekeeper.core.observe import RequestObserver
from routekeeper.core.public_url import parse_trusted
from routekeeper.core.ratelimit import bucket_store
from routekeeper.db.engine import Database
from routekeeper.geocoding.service import geocoder_from_settings
from routekeeper.settings import Settings
from routekeeper.tracking.fastpath import OsmandFastPath
from routekeeper.tracking.osmand_port import install_osmand_port
from routekeeper.tracking.uploads import UploadWriter
from routekeeper.travel import TravelError
from routekeeper.travel.runtime import TravelRuntime
from routekeeper.worker import start_runner

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None) -> FastAPI:
    """Build the API app; with ``run_worker`` the job runner lives in the same process."""
    settings = settings or Settings()
    # Resolve the signing keys now: a refused key stops start-up instead of the first request,
    # and the first start of an install without ROUTEKEEPER_SECRET_KEY generates its own key.
    settings.signing_keys  # noqa: B018
    db = Database(settings.database)
    start_worker = settings.jobs.run_in_api if run_worker is None else run_worker
    travel = TravelRuntime(settings.routing)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = None
        # osrm-routed (for a local dataset) lives as long as the app; the worker shares it.
        travel.start()
        try:
            if start_worker:
                runner = start_runner(db, settings, travel=travel.model)
                app.state.runner = runner
            yield
        finally:
            if runner is not None:
                runner.stop()
            hub = getattr(app.state, "live_hub", None)
            if hub is not None:
                hub.stop()
            app.state.uploads.stop()
            travel.stop()
            db.dispose()

    app = FastAPI(
        title="Routekeeper",
        version=__version__,
        description=(
            "Self-hosted order planning and live tracking that speaks the HyperTrack "
            "Orders API. Authenticate with HTTP Basic AccountID:SecretKey or a Bearer token "
            "from POST /oauth/token."
        ),
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.runner = None
    app.state.guard = Guard(bucket_store(db, settings.limits.backend), settings.limits)
    app.state.uploads = UploadWriter(db, settings, app.state.guard)
    app.state.travel = travel.model
    app.state.travel_runtime = travel
    app.state.geocoder = geocoder_from_settings(settings.geocoding)
    install_error_handlers(app)

    async def _travel_failed(_request: Request, exc: Exception) -> JSONResponse:
        # The routing provider failed: say so plainly instead of a 500.
        return JSONResponse({"detail": {"description": str(exc)},
                             "message": "Travel time calculation failed"}, status_code=503)

    app.add_exception_handler(TravelError, _travel_failed)
    include_routers(app)
    install_osmand_port(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    # Single OsmAnd fixes skip FastAPI's routing (tracking/fastpath.py), inside the NUL guard.
    app.add_middleware(OsmandFastPath)
    app.add_middleware(RefuseUnmatchableTargets)
    # Outside the body limit: every answer (a 413 included) gets a request id, a log line and
    # its metrics.
    app.add_middleware(RequestObserver)
    app.add_middleware(ForwardedBase, trusted=parse_trusted(settings.api.trusted_proxies))

    @app.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__,
                             "travel": travel.health()})

    return app
