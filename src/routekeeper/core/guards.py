"""An ASGI middleware that refuses request targets no route or row can match.

- A control character in the path (``/orders/%0A``, ``/plans/a%00b``): no handle or id may
  hold one (``orders/fields.check_handle``, ``workers/schemas.HANDLE_PATTERN``, generated
  ids), so the answer is a 404. Starlette anchors route patterns with ``$``, which also
  matches before a final newline, so without this ``/orders/%0A`` was served as ``/orders/``;
  and PostgreSQL refuses a NUL in a query parameter, which was a 500.
- A NUL in a query parameter's name or value: a 422 naming the parameter, as the fields that
  validate text already answer.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


class RefuseUnmatchableTargets:
    """Answer 404 to paths holding control characters and 422 to queries holding NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    async def _send(send: Send, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_control(scope.get("path", "")):
            # Answered before routing, so without knowing which of the contract's two 404
            # shapes the operation documents: this body is both (HTTPError's detail and
            # message, Error's code and title).
            await self._send(send, 404, {
                "code": "not_found", "title": "Not found",
                "detail": {"description": "No resource has this path."}, "message": "Not found"})
            return
        raw = scope.get("query_string", b"")
        if b"%00" in raw or b"\x00" in raw:
            query = raw.decode("latin-1")
            names = sorted({name.replace("\x00", "") or "_query"
                            for name, value in parse_qsl(query, keep_blank_values=True)
                            if "\x00" in name or "\x00" in value}) or ["_query"]
            await self._send(send, 422, {
                "detail": {"query": {name: ["Must not contain NUL characters."]
                                     for name in names}},
                "message": "Validation error"})
            return
        await self.app(scope, receive, send)
