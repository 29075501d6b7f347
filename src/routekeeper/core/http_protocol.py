"""uvicorn's HTTP protocol with a response's writes joined into one send.

uvicorn writes a response's status line and headers to the socket when the app sends
``http.response.start``, and its body when the app sends ``http.response.body``: two
``send`` calls and two TCP segments for every small answer. For one-fix uploads (OsmAnd,
thousands a second) the two sends were 38 % of an API process's event loop, and the client
paid a second read; one send is 25 % (docs/benchmarks/ingest.md). Here the connection's
transport holds
what is written during one turn of the event loop and sends it together at the end of that
turn, so a response the app sends in one go leaves in one write.

Nothing waits longer than the current turn of the loop: a streaming response still leaves
chunk by chunk as its generator yields, and past ``CORK_LIMIT_BYTES`` held, the writes go
out at once (so flow control keeps seeing what is queued, and a large body is not copied).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# More than the headers and body of an API answer; a larger write is not held back.
CORK_LIMIT_BYTES = 64 * 1024


class CorkedTransport(asyncio.Transport):
    """A transport that sends what was written during one turn of the event loop at once."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._flush_due = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held_bytes + len(data) > CORK_LIMIT_BYTES:
            self.flush()
            self._transport.write(data)
            return
        self._held.append(bytes(data))
        self._held_bytes += len(data)
        if not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self.flush)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is held now (in the order it was written)."""
        self._flush_due = False
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._held_bytes = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._held_bytes + self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CorkedTransport` (``uvicorn.Config(http=...)``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))
