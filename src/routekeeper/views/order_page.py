"""The order embed (``/embed/orders/<handle>?fulfillment-attempt=N``): the ops view of one
order attempt, with its state, its timeline, and the worker while on the way.

Access as the route embed's: a signed token for that attempt, or the account's HTTP Basic
credentials for the page; the state and events take the token only.
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
from routekeeper.views import pages, tokens
from routekeeper.views.assets import templates
from routekeeper.views.embed_token import ATTEMPT_PARAM, parse_attempt
from routekeeper.views.feeds import Feed, token_access
from routekeeper.views.order_embed import order_embed_view


def _payload(db: Database, account_id: str, handle: str, attempt: int) -> str | None:
    """The order embed's live state as JSON text: the map data and the rendered panel."""
    with db.read() as session:
        view = order_embed_view(session, account_id, handle, attempt, now=utcnow())
    if view is None:
        return None
    panel = templates.get_template("_order_embed_panel.html").render({"order": view["panel"]})
    return pages.to_json({"map": view["map"], "panel": panel})


def _grant(handle: str, asked: int | None, session: Session, settings: Settings,
           token: str) -> tuple[str, int] | None:
    """The account and attempt a token grants of ``handle``, when that is the attempt
    ``asked`` (None: whichever the token names); else None."""
    granted = (tokens.check_order_embed_token(session, settings, token, handle)
               if pages.valid_key(handle, 200) else None)
    return granted if granted is not None and asked in (None, granted[1]) else None


async def _access(request: Request) -> tuple[str, str, int] | Response:
    handle = request.path_params["order_handle"]
    try:
        asked = parse_attempt(request.query_params.get(ATTEMPT_PARAM))
    except ValueError:
        asked = -1  # no token grants it: refused as any other attempt the token does not name
    granted = await token_access(request, partial(_grant, handle, asked))
    if isinstance(granted, Response):
        return granted
    account_id, attempt = granted
    return account_id, handle, attempt


FEED = Feed("embed-order", "Order not found", _access, _payload)


def _page(request: Request, handle: str) -> Response:
    settings, db = pages.app_parts(request)
    token = request.query_params.get("token")
    try:
        attempt = parse_attempt(request.query_params.get(ATTEMPT_PARAM))
    except ValueError:
        return pages.error_page(request, 404, "Order not found", "There is no such order.")
    with db.read() as session:
        if token:
            granted = _grant(handle, attempt, session, settings, token)
            if granted is None:
                return pages.link_refused(request, "order")
            account_id, attempt = granted
        else:
            signed = pages.signed_in(request)
            if signed is None:
                return pages.challenge(request)
            account_id = signed
        view = (order_embed_view(session, account_id, handle, attempt, now=utcnow())
                if pages.valid_key(handle, 200) else None)
        if view is not None and not token:
            account = session.get(Account, account_id)
            assert account is not None
            token = tokens.issue_order_embed_token(
                settings, account_id=account_id, secret_version=account.secret_version,
                order_handle=handle, fulfillment_attempt=view["panel"]["fulfillment_attempt"])
    if view is None:
        return pages.error_page(request, 404, "Order not found", "There is no such order.")
    attempt_text = view["panel"]["fulfillment_attempt"]
    return pages.page(request, "order_embed.html", {
        "order": view["panel"], "map": view["map"],
        "events_url": f"/embed/orders/{quote(handle, safe='')}/events?"
                      f"{ATTEMPT_PARAM}={attempt_text}&token={token}",
    }, framed=True)


async def order_embed_page(request: Request) -> Response:
    """The ops view of one order: its state, its timeline, and the worker while on the way."""
    return await run_in_threadpool(_page, request, request.path_params["order_handle"])
