"""The corked HTTP protocol: what one turn of the event loop writes leaves in one send, and
nothing is held longer (streams still flow, large bodies and closes are not delayed)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from routekeeper.core.http_protocol import (
    CORK_LIMIT_BYTES,
    CorkedHttpToolsProtocol,
    CorkedTransport,
)


class RecordingTransport(asyncio.Transport):
    """A transport that records each write (one per ``send`` a socket would make)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def _corked() -> tuple[RecordingTransport, CorkedTransport]:
    """A recording transport and the corked one over it, on the running loop."""
    inner = RecordingTransport()
    return inner, CorkedTransport(inner, asyncio.get_running_loop())


async def _turn() -> None:
    """Let the event loop finish its current turn (the flush scheduled in it runs)."""
    await asyncio.sleep(0)


def test_writes_of_one_turn_leave_together_in_order() -> None:
    async def scenario() -> None:
        inner, corked = _corked()
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(b"body")
        assert inner.writes == []
        assert corked.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await _turn()
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        corked.write(b"next")
        await _turn()
        assert inner.writes[1:] == [b"next"]
        assert corked.get_write_buffer_size() == 0

    asyncio.run(scenario())


def test_a_large_write_goes_out_at_once_after_what_was_held() -> None:
    async def scenario() -> None:
        inner, corked = _corked()
        big = b"x" * CORK_LIMIT_BYTES
        corked.write(b"head")
        corked.write(big)
        assert inner.writes == [b"head", big]
        await _turn()
        assert inner.writes == [b"head", big]

    asyncio.run(scenario())


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> None:
        inner, corked = _corked()
        corked.write(b"last words")
        corked.close()
        assert inner.writes == [b"last words"] and inner.closed
        await _turn()
        assert inner.writes == [b"last words"]

        inner, corked = _corked()
        corked.write(b"never sent")
        corked.abort()
        await _turn()
        assert inner.writes == [] and inner.aborted

    asyncio.run(scenario())


def test_nothing_is_written_to_a_transport_that_closed_meanwhile() -> None:
    async def scenario() -> None:
        inner, corked = _corked()
        corked.write(b"too late")
        inner.closed = True  # the peer went away before the turn ended
        await _turn()
        assert inner.writes == []

    asyncio.run(scenario())


# ----------------------------------------------------------------- through a real server

STREAM_GATE = threading.Event()


async def small(request: Request) -> Response:
    return JSONResponse({"ok": True, "path": request.url.path})


async def large(request: Request) -> Response:
    return Response(b"0123456789" * 30_000, media_type="application/octet-stream")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        # The second chunk waits until the client has read the first: a chunk held back
        # until the stream ends would make this wait time out.
        await asyncio.to_thread(STREAM_GATE.wait, 10)
        yield b"second\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    app = Starlette(routes=[Route("/small", small), Route("/large", large),
                            Route("/stream", stream)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                            http=CorkedHttpToolsProtocol)
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not served.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    yield port
    served.should_exit = True
    thread.join(10)


def _read_response(conn: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """One response with a Content-Length from a kept-alive connection: (head, body)."""
    while b"\r\n\r\n" not in buffer:
        buffer.extend(_recv(conn))
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    buffer[:] = rest
    while len(buffer) < length:
        buffer.extend(_recv(conn))
    body = bytes(buffer[:length])
    del buffer[:length]
    return head, body


def _recv(conn: socket.socket) -> bytes:
    data = conn.recv(65536)
    assert data, "the server closed the connection"
    return data


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def test_kept_alive_requests_and_a_large_body_arrive_whole(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=10) as conn:
        buffer = bytearray()
        conn.sendall(_get("/small") + _get("/large") + _get("/small"))
        head, body = _read_response(conn, buffer)
        assert head.startswith(b"HTTP/1.1 200") and body == b'{"ok":true,"path":"/small"}'
        head, body = _read_response(conn, buffer)
        assert head.startswith(b"HTTP/1.1 200") and body == b"0123456789" * 30_000
        head, body = _read_response(conn, buffer)
        assert body == b'{"ok":true,"path":"/small"}'
        assert not buffer


def test_a_stream_delivers_each_chunk_when_it_is_sent(server: int) -> None:
    STREAM_GATE.clear()
    with socket.create_connection(("127.0.0.1", server), timeout=10) as conn:
        conn.sendall(_get("/stream"))
        received = b""
        while b"first\n" not in received:
            received += _recv(conn)
        assert b"second" not in received
        STREAM_GATE.set()
        while b"0\r\n\r\n" not in received:
            received += _recv(conn)
        assert b"second\n" in received


def test_the_osmand_port_serves_with_the_corked_protocol() -> None:
    from routekeeper.tracking.osmand_port import OsmandServer

    osmand = OsmandServer(FastAPI(), 0)
    assert osmand.server.config.http is CorkedHttpToolsProtocol
