"""A real HTTP receiver on loopback that records every webhook request it gets."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def events(self) -> list[dict[str, Any]]:
        """The JSON array of events in the body."""
        data = json.loads(self.body)
        assert isinstance(data, list)
        return data


class Receiver:
    """Answers scripted statuses (then ``default_status``) and records each request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[int] = []
        self.default_status = 200
        self.response_body = b'{"ok": true}'
        self.hold_first = 0
        self.gate = threading.Event()
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        """The ephemeral port the receiver listens on."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        """The URL to register as an endpoint."""
        return f"http://127.0.0.1:{self.port}/hooks"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            index = len(self.requests)
            status = self.script[index] if index < len(self.script) else self.default_status
            self.requests.append(Received(handler.path, headers, body, status))
        self.arrived.set()
        if index < self.hold_first:
            # Hold the request open, as a slow receiver would, until the test lets go.
            self.gate.wait(30)
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            if 300 <= status < 400:
                handler.send_header("location", self.url + "/moved")
            handler.send_header("content-length", str(len(self.response_body)))
            handler.end_headers()
            handler.wfile.write(self.response_body)
        except OSError:
            pass  # the sender is gone (the durability test kills it)

    def accepted(self) -> list[Received]:
        """The requests answered with a 2xx."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def accepted_event_ids(self) -> list[str]:
        """The ids of every event in every accepted request, repeats included."""
        return [event["id"] for request in self.accepted() for event in request.events()]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        """Wait until at least ``count`` requests arrived."""
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop serving and free the port."""
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
