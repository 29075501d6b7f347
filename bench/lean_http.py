"""A lean HTTP/1.1 client for the load generators: one keep-alive connection, requests
written as bytes, answers read by their ``Content-Length``.

The benchmarks run client, server and database on one 2-core machine, so every millisecond
the client spends is taken from the server it measures. ``http.client`` builds each request
through a header API and parses each answer's headers with the email parser: about 0.13 ms
of client CPU a request in the 2,000-phone run, a tenth of the whole machine's work a fix.
Phones do not run on the server; a load generator should cost as little as it can (as wrk
does, in C). This one knows only what the benchmarks send and the service answers: no
chunked answers, no redirects, no 100-continue.
"""

from __future__ import annotations

import socket


class LeanHttpError(Exception):
    """An answer this client does not read (chunked, no length, a closed connection)."""


class LeanConnection:
    """One keep-alive connection to ``host:port``; reconnects when the server closed it."""

    def __init__(self, address: str, *, timeout_s: float = 120.0) -> None:
        host, _, port = address.partition(":")
        self.host = host
        self.port = int(port or 80)
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buffer = b""

    def request(self, method: str, target: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send one request and read its answer: (status, body). A request on a connection
        the server has closed meanwhile (its keep-alive timeout) is sent again once on a new
        one, as ``http.client`` users do."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        fresh = self._sock is None
        try:
            return self._exchange(message)
        except (ConnectionError, LeanHttpError):
            if fresh:
                raise
            self.close()
            return self._exchange(message)

    def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(message)
        head = self._read_head()
        status, length, closes = _parse_head(head)
        body = self._read_exactly(length)
        if closes:
            self.close()
        return status, body

    def _read_more(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise LeanHttpError("the server closed the connection")
        self._buffer += chunk

    def _read_head(self) -> bytes:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            self._read_more()
        head, self._buffer = self._buffer[:end], self._buffer[end + 4:]
        return head

    def _read_exactly(self, length: int) -> bytes:
        while len(self._buffer) < length:
            self._read_more()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """The status, the body's length and whether the server closes after this answer."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise LeanHttpError(f"not an HTTP status line: {status_line!r}")
    length: int | None = None
    closes = False
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding":
            raise LeanHttpError("chunked answers are not read by this client")
        elif name == "connection" and value.strip().lower() == "close":
            closes = True
    if length is None:
        raise LeanHttpError("an answer without Content-Length")
    return int(parts[1]), length, closes
