"""An ASGI middleware that keeps request targets no route or row can match from misleading.

- A control character in the path (``/orders/%0A``, ``/orders/plans/a%00b``): no handle or
  id may hold one (``core/fields.check_handle``, ``workers/schemas.HANDLE_PATTERN``,
  generated ids), yet Starlette anchors route patterns with ``$``, which also matches before
  a final newline (``/orders/%0A`` was served as ``/orders/``), and PostgreSQL refuses a NUL
  in a query parameter (a 500). Each is replaced by U+0001 before routing: the request then
  reaches the operation it names with an id that exists nowhere, and that operation answers
  its own documented 404.
- A NUL in a query parameter's name or value: a 422 naming the parameter, as the fields that
  validate text already answer.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from routekeeper.core.asgi import HttpMiddleware, send_json


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


class RefuseUnmatchableTargets(HttpMiddleware):
    """Neutralise control characters in paths; answer 422 to queries holding NUL."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if _has_control(path):
            scope = dict(scope)
            scope["path"] = "".join("\x01" if ord(c) < 0x20 or ord(c) == 0x7F else c
                                    for c in path)
        raw = scope.get("query_string", b"")
        if b"%00" in raw or b"\x00" in raw:
            query = raw.decode("latin-1")
            names = sorted({name.replace("\x00", "") or "_query"
                            for name, value in parse_qsl(query, keep_blank_values=True)
                            if "\x00" in name or "\x00" in value}) or ["_query"]
            await send_json(send, 422, {
                "detail": {"query": {name: ["Must not contain NUL characters."]
                                     for name in names}},
                "message": "Validation error"})
            return
        await self.app(scope, receive, send)
