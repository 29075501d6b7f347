"""The route embed (``/embed/routes/<handle>``): the ops view of one route, with its map,
stops with ETAs and risks, and the worker's live position.

It opens with a signed embed token (``?token=``) or, without one, the account's HTTP Basic
credentials; its state and events take the token only (the page hands its own on).
"""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from routekeeper.core.clock import utcnow
from routekeeper.db.engine import Database
from routekeeper.models.account import Account
from routekeeper.settings import Settings
from routekeeper.views import pages, service
from routekeeper.views.assets import templates
from routekeeper.views.feeds import Feed, token_access
from routekeeper.views.tokens import account_token, check_embed_token


def _payload(db: Database, account_id: str, handle: str) -> str | None:
    """The embed's live state as JSON text: the map data and the rendered side panel."""
    with db.read() as session:
        view = service.embed_view(session, account_id, handle, now=utcnow())
    if view is None:
        return None
    panel = templates.get_template("_embed_panel.html").render(view["panel"])
    return pages.to_json({"map": view["map"], "panel": panel})


def _grant(handle: str, session: Session, settings: Settings, token: str) -> str | None:
    """The account whose token grants ``handle``, else None."""
    if not pages.valid_key(handle, 200):
        return None
    return check_embed_token(session, settings, token, handle)


async def _access(request: Request) -> tuple[str, str] | Response:
    handle = request.path_params["route_handle"]
    granted = await token_access(request, partial(_grant, handle))
    return granted if isinstance(granted, Response) else (granted, handle)


FEED = Feed("embed", "Route not found", _access, _payload)


def _page(request: Request, handle: str) -> Response:
    settings, db = pages.app_parts(request)
    token = request.query_params.get("token")
    with db.read() as session:
        if token:
            account_id = _grant(handle, session, settings, token)
            if account_id is None:
                return pages.link_refused(request, "route")
        else:
            account_id = pages.signed_in(request)
            if account_id is None:
                return pages.challenge(request)
            account = session.get(Account, account_id)
            assert account is not None
            token = account_token(settings, account, handle)
        view = (service.embed_view(session, account_id, handle, now=utcnow())
                if pages.valid_key(handle, 200) else None)
    if view is None:
        return pages.error_page(request, 404, "Route not found", "There is no such route.")
    base = f"/embed/routes/{quote(handle, safe='')}"
    return pages.page(request, "embed.html", {
        "route": view["panel"]["route"], "stops": view["panel"]["stops"], "map": view["map"],
        "events_url": f"{base}/events?token={token}",
    }, framed=True)


async def embed_page(request: Request) -> Response:
    """The ops view of one route: map, stops with ETAs and risks, live position."""
    return await run_in_threadpool(_page, request, request.path_params["route_handle"])
