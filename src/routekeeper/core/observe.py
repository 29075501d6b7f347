"""An ASGI middleware that gives every request an id, one log line and its metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from routekeeper.core import metrics
from routekeeper.core.asgi import HttpMiddleware
from routekeeper.core.context import HEADER, accept_request_id, bound_request_id

log = logging.getLogger("routekeeper.access")
_HEADER_BYTES = HEADER.lower().encode()


def route_label(scope: Scope) -> str:
    """The route template that served a request; never the raw path (secrets, cardinality)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    endpoint = scope.get("endpoint")
    name = getattr(endpoint, "__name__", None)
    return f"endpoint:{name}" if name else "unmatched"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RequestObserver(HttpMiddleware):
    """Accept or make the request id, answer it in ``X-Request-ID``, log and count the request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = accept_request_id(_header(scope, _HEADER_BYTES))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != _HEADER_BYTES]
                headers.append((_HEADER_BYTES, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bound_request_id(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, elapsed_s: float) -> None:
        method = str(scope.get("method", ""))
        route = route_label(scope)
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_SECONDS.labels(method, route).observe(elapsed_s)
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        path = str(scope.get("path", "")) + (f"?{query}" if query else "")
        client = scope.get("client")
        log.info("%s %s %s", method, path, status, extra={
            "event": "request", "method": method, "path": path, "route": route,
            "status": status, "duration_ms": round(elapsed_s * 1000, 2),
            "client": client[0] if client else None,
        })
