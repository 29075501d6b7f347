"""Server-sent events of the live views, one change feed per view shared by all its streams.

A stream used to poll the database every second, so 400 open share links (which need no
credentials) took the API's median from 10 ms to seconds. Now:

- :class:`LiveHub` keeps one *feed* per view (a route's embed, an order's share page) with
  the last payload built for it and the streams that show it.
- One thread per process watches every feed: each ``poll_s`` it reads the change marks of all
  watched views in one query (``views/repository.change_marks``: the rows' ``updated_at`` and
  the worker's newest fix), rebuilds only the views whose marks moved (or every
  ``refresh_s``, for the clock-relative texts) and hands the payload to each of their streams.
  The database work per second is one query plus one build per changed view, whatever the
  number of streams, and the builds of one tick stop at a time budget (``build_budget_s``):
  the stalest views go first and the rest wait for the next tick.
- Heartbeats come from the stream's own timer, without a query.
- Caps: streams per view, per client address and per process; over a cap the answer is a
  429 (view, client) or 503 (process) with ``Retry-After``, before any database work.

Each stream lives for a bounded time and then ends; the browser's EventSource reconnects by
itself (after ``retry``), which also re-checks the link's token. A stream ends early when its
view disappears (``event: gone``); a client that goes away cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import StreamingResponse

log = logging.getLogger(__name__)

GONE = "\x00gone"
"""The payload a feed publishes when its view no longer exists."""


@dataclass
class LiveTiming:
    """How often the hub looks for changes, how long a stream lives, how often it proves it
    is alive, and how often a view is rebuilt even without a change (relative times)."""

    poll_s: float = 1.0
    lifetime_s: float = 300.0
    keepalive_s: float = 15.0
    retry_ms: int = 1000
    refresh_s: float = 30.0
    # The share of each tick the watcher may spend building views. Builds hold the GIL that
    # the API's requests need too; past the budget the stalest views wait for the next tick,
    # so many busy views update a little less often instead of slowing every request.
    build_budget_s: float = 0.25


TIMING = LiveTiming()


def frame(event: str, data: str) -> str:
    """One SSE message (``data`` holds no newline: it is compact JSON)."""
    return f"event: {event}\ndata: {data}\n\n"


class StreamRefused(Exception):
    """A cap is reached: the status (429 or 503) and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Stream:
    """One open stream: its event loop and the newest payload waiting for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: str) -> None:
        self.loop = loop
        self.client = client
        self.pending: str | None = None
        self.wake = asyncio.Event()

    def offer(self, payload: str) -> None:
        """Called on the stream's loop: keep only the newest payload (a slow client skips)."""
        self.pending = payload
        self.wake.set()


@dataclass
class _Feed:
    """One view: how to build it, its last payload and marks, and its streams."""

    build: Callable[[], str | None]
    payload: str | None = None
    marks: Any = None
    built_at: float = 0.0
    streams: set[_Stream] = field(default_factory=set)


Marks = Callable[[list[Any]], dict[Any, Any]]
"""Reads the change marks of many views at once (one query); a view missing is gone."""


class LiveHub:
    """The change feeds of one app's live views and the thread that keeps them current."""

    def __init__(self, marks: Marks, *, per_view: int, per_client: int, total: int,
                 timing: LiveTiming | None = None) -> None:
        self._marks = marks
        self.per_view = per_view
        self.per_client = per_client
        self.total = total
        self.timing = timing
        self._feeds: dict[Hashable, _Feed] = {}
        self._clients: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def _timing(self) -> LiveTiming:
        return self.timing or TIMING

    def stream_count(self) -> int:
        """How many streams are open."""
        with self._lock:
            return sum(len(feed.streams) for feed in self._feeds.values())

    def current(self, key: Hashable) -> str | None:
        """The payload the feed of ``key`` last built, if it is watched."""
        with self._lock:
            feed = self._feeds.get(key)
            return None if feed is None else feed.payload

    def admit(self, key: Hashable, client: str) -> None:
        """Refuse a new stream over a cap (before any database work)."""
        with self._lock:
            feed = self._feeds.get(key)
            if sum(len(f.streams) for f in self._feeds.values()) >= self.total:
                raise StreamRefused(503, "Too many live views are open on this server.")
            if feed is not None and len(feed.streams) >= self.per_view:
                raise StreamRefused(429, "Too many live streams are open for this view.")
            if self._clients.get(client, 0) >= self.per_client:
                raise StreamRefused(429, "Too many live streams are open from this address.")

    def _join(self, key: Hashable, build: Callable[[], str | None], first: str,
              stream: _Stream) -> None:
        with self._lock:
            feed = self._feeds.get(key)
            if feed is None:
                feed = self._feeds[key] = _Feed(build, payload=first,
                                                built_at=time.monotonic())
            feed.streams.add(stream)
            self._clients[stream.client] = self._clients.get(stream.client, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._watch, name="live-views",
                                                daemon=True)
                self._thread.start()

    def _leave(self, key: Hashable, stream: _Stream) -> None:
        with self._lock:
            feed = self._feeds.get(key)
            if feed is not None:
                feed.streams.discard(stream)
                if not feed.streams:
                    del self._feeds[key]
            left = self._clients.get(stream.client, 1) - 1
            if left > 0:
                self._clients[stream.client] = left
            else:
                self._clients.pop(stream.client, None)

    def stop(self) -> None:
        """End the watcher thread (app shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _watch(self) -> None:
        """The watcher thread: one marks query per tick, a build per changed view."""
        while not self._stop.wait(self._timing.poll_s):
            with self._lock:
                feeds = dict(self._feeds)
            if not feeds:
                with self._lock:
                    if not self._feeds:
                        self._thread = None
                        return
                continue
            try:
                self._tick(feeds)
            except Exception:  # a failed tick must not end every stream; the next retries
                log.exception("live views: a change check failed")

    def _tick(self, feeds: dict[Hashable, _Feed]) -> None:
        marks = self._marks(sorted(feeds, key=repr))
        now = time.monotonic()
        budget = self._timing.build_budget_s
        # Stalest first, so that views left over by a spent budget go first next time.
        for key, feed in sorted(feeds.items(), key=lambda item: item[1].built_at):
            mark = marks.get(key)
            due = now - feed.built_at >= self._timing.refresh_s
            # A new feed is rebuilt once: a change between its first build (at connect) and
            # this first reading of its marks would otherwise go unseen.
            if feed.marks is not None and mark == feed.marks and not due:
                continue
            if time.monotonic() - now >= budget:
                return  # its marks stay old, so the next tick rebuilds it
            feed.marks = mark if mark is not None else ()
            feed.built_at = time.monotonic()
            payload = (feed.build() if mark is not None else None) or GONE
            if payload == feed.payload:
                continue
            feed.payload = payload
            with self._lock:
                streams = list(feed.streams)
            for stream in streams:
                try:
                    stream.loop.call_soon_threadsafe(stream.offer, payload)
                except RuntimeError:  # the stream's loop has closed: it is going away
                    continue

    async def changes(self, key: Hashable, build: Callable[[], str | None], first: str,
                      client: str) -> AsyncIterator[str]:
        """The SSE messages of one stream: the view now, then each change, until the
        lifetime ends or the view is gone."""
        timing = self._timing
        stream = _Stream(asyncio.get_running_loop(), client)
        self._join(key, build, first, stream)
        try:
            yield f"retry: {timing.retry_ms}\n\n"
            yield frame("state", first)
            sent = first
            ends_at = time.monotonic() + timing.lifetime_s
            while True:
                remaining = ends_at - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(stream.wake.wait(),
                                           timeout=min(timing.keepalive_s, remaining))
                except TimeoutError:
                    if ends_at - time.monotonic() > 0:
                        yield ": keepalive\n\n"
                    continue
                stream.wake.clear()
                payload, stream.pending = stream.pending, None
                if payload is None or payload == sent:
                    continue
                if payload == GONE:
                    yield frame("gone", "{}")
                    return
                yield frame("state", payload)
                sent = payload
        finally:
            self._leave(key, stream)


def event_stream(hub: LiveHub, key: Hashable, build: Callable[[], str | None], first: str,
                 client: str) -> StreamingResponse:
    """A ``text/event-stream`` response of one view's changes, starting with ``first``."""
    return StreamingResponse(
        hub.changes(key, build, first, client), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
