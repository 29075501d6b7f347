"""The live state of a page, the same for every page that has one: as JSON at ``.../state``
and as server-sent events at ``.../events``, behind the page's own access rule.

A page describes its state once, as a ``Feed``: who may read it and what it selects, and
how to build it (JSON text, or None when the view does not exist). The stream caps are
checked before any state is built; the views' change marks tell the hub when to rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from fastapi import Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from routekeeper.core.errors import HttpError
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.views import repository
from routekeeper.views.live import LiveHub, StreamRefused, event_stream
from routekeeper.views.pages import api_error, app_parts, json_response

# A refused live stream: the browser's EventSource retries after its own delay anyway.
LIVE_RETRY_AFTER_S = 10

Grant = TypeVar("Grant")
Selection = tuple[Any, ...]


@dataclass(frozen=True)
class Feed:
    """One page's live state: ``name`` starts its streams' keys, ``access`` answers what a
    request may read (the arguments of ``payload`` after the database) or its refusal, and
    ``missing`` is the 404's message when ``payload`` finds no such view."""

    name: str
    missing: str
    access: Callable[[Request], Awaitable[Selection | Response]]
    payload: Callable[..., str | None]

    async def state(self, request: Request) -> Response:
        """The page's current state as JSON."""
        selection = await self.access(request)
        if isinstance(selection, Response):
            return selection
        payload = await run_in_threadpool(self.payload, request.app.state.db, *selection)
        if payload is None:
            return api_error(HttpError(404, self.missing))
        return json_response(payload)

    async def events(self, request: Request) -> Response:
        """The page's state as server-sent events, on every change."""
        selection = await self.access(request)
        if isinstance(selection, Response):
            return selection
        key = (self.name, *(str(part) for part in selection))
        # The caps come before any build: a refused stream costs no database work (the
        # share page's link is public).
        refused = _admit(request, key)
        if refused is not None:
            return refused
        build = partial(self.payload, request.app.state.db, *selection)
        hub = _hub(request)
        first = hub.current(key) or await run_in_threadpool(build)
        if first is None:
            return api_error(HttpError(404, self.missing))
        return event_stream(hub, key, build, first, _client(request))


def _token_grant(request: Request,
                 check: Callable[[Session, Settings, str], Grant | None]) -> Grant | Response:
    settings, db = app_parts(request)
    token = request.query_params.get("token")
    if not token:
        return api_error(HttpError(401, "Authentication error",
                                   {"description": "Missing embed token."}))
    with db.read() as session:
        granted = check(session, settings, token)
    if granted is None:
        return api_error(HttpError(403, "Forbidden",
                                   {"description": "Invalid or expired embed token."}))
    return granted


async def token_access(request: Request,
                       check: Callable[[Session, Settings, str], Grant | None]) -> Grant | Response:
    """What the embed token in the query grants (``check`` reads it, None when it is invalid
    or expired), or the JSON refusal: 401 without a token, 403 with a bad one."""
    return await run_in_threadpool(_token_grant, request, check)


def _hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live_hub
    return hub


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _admit(request: Request, key: Hashable) -> Response | None:
    """None when one more stream of ``key`` fits the caps, else the 429 or 503 refusal."""
    try:
        _hub(request).admit(key, _client(request))
    except StreamRefused as refused:
        return Response(json.dumps({"detail": {"description": refused.reason},
                                    "message": "Too many live streams"}),
                        status_code=refused.status, media_type="application/json",
                        headers={"Retry-After": str(LIVE_RETRY_AFTER_S)})
    return None


def change_marks(db: Database, keys: list[Any]) -> dict[Any, Any]:
    """The change marks of the views behind some stream keys (the live hub's question)."""
    with db.read() as session:
        return repository.change_marks(session, keys)
