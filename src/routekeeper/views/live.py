"""Server-sent events: poll the database about once a second, send the view when it changed.

Each stream lives for a bounded time and then ends; the browser's EventSource reconnects by
itself (after ``retry``), which also re-checks the link's token. A stream ends early when its
view disappears (``event: gone``); a client that goes away cancels it (Starlette listens for
the disconnect).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse


@dataclass
class LiveTiming:
    """How often a stream polls, how long it lives, and how often it proves it is alive."""

    poll_s: float = 1.0
    lifetime_s: float = 300.0
    keepalive_s: float = 15.0
    retry_ms: int = 1000


TIMING = LiveTiming()


def frame(event: str, data: str) -> str:
    """One SSE message (``data`` holds no newline: it is compact JSON)."""
    return f"event: {event}\ndata: {data}\n\n"


async def changes(build: Callable[[], str | None], timing: LiveTiming, *,
                  first: str | None = None) -> AsyncIterator[str]:
    """The SSE messages of one stream: the view now (``first``, when the caller built it
    already), then each changed view, until the lifetime ends or ``build`` answers None (the
    view is gone)."""
    yield f"retry: {timing.retry_ms}\n\n"
    started = time.monotonic()
    last_payload: str | None = None
    last_sent = started
    while True:
        payload = first if first is not None else await run_in_threadpool(build)
        first = None
        now = time.monotonic()
        if payload is None:
            yield frame("gone", "{}")
            return
        if payload != last_payload:
            yield frame("state", payload)
            last_payload, last_sent = payload, now
        elif now - last_sent >= timing.keepalive_s:
            yield ": keepalive\n\n"
            last_sent = now
        if now - started + timing.poll_s > timing.lifetime_s:
            return
        await anyio.sleep(timing.poll_s)


def event_stream(build: Callable[[], str | None], first: str) -> StreamingResponse:
    """A ``text/event-stream`` response of ``build``'s changes, starting with ``first``."""
    return StreamingResponse(
        changes(build, TIMING, first=first), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
