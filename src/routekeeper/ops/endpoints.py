"""``/health/live``, ``/health/ready`` and ``/metrics``: what probes and Prometheus ask."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from routekeeper import __version__
from routekeeper.core import metrics
from routekeeper.core.errors import HttpError
from routekeeper.dependencies import get_db, get_settings
from routekeeper.ops.gauges import DatabaseGauges
from routekeeper.ops.health import readiness, ready_document

router = APIRouter(include_in_schema=False)


@router.get("/health/live")
def live() -> JSONResponse:
    """The process answers (a failing liveness probe means: restart it)."""
    return JSONResponse({"status": "ok", "version": __version__})


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """Everything serving needs is there: 200, else 503 naming the parts that fail."""
    started = time.perf_counter()
    runtime = getattr(request.app.state, "travel_runtime", None)
    osrm = getattr(runtime, "osrm", None)
    checks = await run_in_threadpool(readiness, get_settings(request), get_db(request),
                                     request.app.state.runner, getattr(osrm, "base_url", None))
    document = ready_document(checks, started)
    status = 200 if document["status"] == "ok" else 503
    return JSONResponse(document, status_code=status, headers={"Cache-Control": "no-store"})


def _authorised(request: Request, token: str) -> bool:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(),
                                                              token.encode())


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    """Prometheus text exposition; only with ``metrics.token`` set, and only for its bearer."""
    token = get_settings(request).metrics.token
    if not token:
        raise HttpError(404, "Not found", {"description": "Metrics are off: set "
                                           "ROUTEKEEPER_METRICS__TOKEN to turn them on."})
    if not _authorised(request, token):
        raise HttpError(401, "Authentication error",
                        {"description": "Send the metrics token as a Bearer token."},
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = await run_in_threadpool(metrics.exposition, DatabaseGauges(get_db(request)))
    return Response(body, media_type=metrics.CONTENT_TYPE)
