"""An ASGI middleware that refuses request bodies above a size limit with a 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routekeeper.core.asgi import HttpMiddleware, send_json


class BodySizeLimit(HttpMiddleware):
    """Reject bodies over ``max_bytes`` before the application reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        await send_json(send, 413, {
            "detail": {"description": f"The request body exceeds {self.max_bytes} bytes."},
            "message": "Request body too large",
        })

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    await self._refuse(send)
                    return
            except ValueError:
                pass
        # Buffer the body (bounded by the limit) so a chunked upload cannot exceed it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
