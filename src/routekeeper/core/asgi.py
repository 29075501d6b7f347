"""What the pure-ASGI middlewares (``guards``, ``limits``, ``observe``) share: they see HTTP
requests only, and may answer with JSON before the application runs."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """A middleware of HTTP requests; other scopes (lifespan, websockets) pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (each middleware's own work)."""
        raise NotImplementedError


async def send_json(send: Send, status: int, body: dict[str, object]) -> None:
    """Answer the request with ``body`` as JSON and ``status``, in place of the application."""
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
