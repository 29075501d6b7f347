"""The ASGI middleware that believes a trusted proxy's ``X-Forwarded-*`` (core/public_url)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from routekeeper.core.public_url import Network, base_from_headers, forwarded, is_trusted


class ForwardedBase:
    """ASGI middleware: trusted proxies' ``X-Forwarded-*`` make the request's link base."""

    def __init__(self, app: ASGIApp, trusted: list[Network]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.trusted:
            await self.app(scope, receive, send)
            return
        client: Any = scope.get("client")
        base = None
        if client and is_trusted(client[0], self.trusted):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            base = base_from_headers(headers)
        reset = forwarded.set(base)
        try:
            await self.app(scope, receive, send)
        finally:
            forwarded.reset(reset)
