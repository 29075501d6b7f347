"""OsmAnd's single fixes answered next to FastAPI's routing instead of through it.

Traccar Client and OsmAnd send one fix a request, as a query string, thousands a second
across a fleet. Through FastAPI, each of them went through the routing table, the error and
telemetry middlewares and the endpoint machinery before the fix's own work began (parse it,
hand it to the upload writer, answer). Here a request to the OsmAnd path with a query string
goes straight to that work. The rest stays as it was:

- the request id, the access log line and the metrics (``RequestObserver`` runs outside);
- the NUL guard of the main app;
- the answer and every error, in the same shapes: the same function parses the request
  (``endpoints.osmand_request``), and ``core.handlers.error_response`` gives errors the
  answers the app's handlers give them.

Anything else reaches the app as before. That includes OsmAnd requests with a form or JSON
body, which are rarer, and the endpoint's entry in the API document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from routekeeper.core.asgi import HttpMiddleware
from routekeeper.core.handlers import error_response
from routekeeper.tracking import endpoints

OSMAND_METHODS = frozenset({"GET", "POST"})


@dataclass(frozen=True)
class _Served:
    """What the metrics read of a matched route: its path (``core.observe.route_label``)."""

    path: str


class OsmandFastPath(HttpMiddleware):
    """Serve OsmAnd query-string requests to ``paths``; pass everything else on."""

    def __init__(self, app: ASGIApp, paths: Iterable[str] = ("/osmand",)) -> None:
        super().__init__(app)
        self.paths = {path: _Served(path) for path in paths}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = self.paths.get(scope["path"])
        if served is None or scope["method"] not in OSMAND_METHODS \
                or not scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        scope["route"] = served
        request = Request(scope, receive)
        try:
            response = await endpoints.osmand_request(request)
        except Exception as exc:  # answered as the app's handlers answer it
            response = await error_response(request, exc)
        await response(scope, receive, send)
