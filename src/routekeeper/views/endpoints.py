"""The browser views: the route and order embeds (ops), the share page (customers), the
plans board.

``POST /oauth/embed-token`` is an API operation (contract 1.1) and is documented. The pages,
their JSON state and their event streams are not API operations: they are plain Starlette
routes outside the OpenAPI document, and answer HTML (or JSON for the state) themselves.

Access: the embed takes a signed embed token (``?token=``) or, without one, the account's
HTTP Basic credentials; the share page is public and scoped to its tracking id; the board
takes HTTP Basic credentials like the API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from routekeeper.accounts.auth import CurrentAccount, current_account
from routekeeper.core.clock import utcnow
from routekeeper.core.errors import ApiError, CodedError, HttpError
from routekeeper.core.responses import R400, R401, R404, R422
from routekeeper.core.routing import Router
from routekeeper.db.engine import Database
from routekeeper.dependencies import ReadSession, SettingsDep
from routekeeper.models.account import Account
from routekeeper.routes import repository as routes_repository
from routekeeper.settings import Settings
from routekeeper.views import board, service, tokens
from routekeeper.views import repository as views_repository
from routekeeper.views.assets import (
    STATIC_DIR,
    CachedStaticFiles,
    asset_version,
    leaflet_dir,
    templates,
)
from routekeeper.views.live import LiveHub, StreamRefused, event_stream
from routekeeper.views.order_embed import order_embed_view
from routekeeper.views.tokens import (
    account_token,
    check_embed_token,
    check_order_embed_token,
    with_token,
    without_token,
)

log = logging.getLogger(__name__)

# A refused live stream: the browser's EventSource retries after its own delay anyway.
LIVE_RETRY_AFTER_S = 10

router = Router(tags=["Auth"])


class EmbedTokenRequest(BaseModel):
    """``POST /oauth/embed-token``: the embed URL to sign (a route's ``embed_url``)."""

    embed_url: str | None = None
    grant_type: str | None = None


class EmbedToken(BaseModel):
    """A signed embed token and the embed URL carrying it."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    embed_url: str
    secure_embed_url: str


def _valid_key(text: str, max_length: int) -> bool:
    """Whether ``text`` can name a row: printable, storable, and not too long."""
    if not 0 < len(text) <= max_length or not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _embed_path(embed_url: str, public_url: str, kind: str) -> tuple[str, str] | None:
    """``(handle, query)`` of one of this server's embed URLs of ``kind`` (``public_url``
    followed by ``/embed/<kind>/<handle>``, or that path alone), else None: a signed link to
    another host or scheme (``javascript:``) would lend this server's signature to it."""
    try:
        url, own = urlsplit(embed_url), urlsplit(public_url)
    except ValueError:
        return None
    if (url.scheme or url.netloc) and (url.scheme.lower(), url.netloc.lower()) != (
            own.scheme.lower(), own.netloc.lower()):
        return None
    if url.fragment:
        return None
    base = "" if not (url.scheme or url.netloc) else own.path.rstrip("/")
    prefix = f"{base}/embed/{kind}/"
    if not url.path.startswith(prefix):
        return None
    handle = url.path.removeprefix(prefix).rstrip("/")
    if not handle or "/" in handle or not _valid_key(handle, 200):
        return None
    return handle, url.query


def embed_handle(embed_url: str, public_url: str) -> str | None:
    """The route handle of one of this server's route embed URLs, else None."""
    found = _embed_path(embed_url, public_url, "routes")
    return found[0] if found is not None else None


ATTEMPT_PARAM = "fulfillment-attempt"


def _attempt(text: str | None) -> int | None:
    """A ``fulfillment-attempt`` value: a non-negative integer; ValueError otherwise."""
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ValueError(text)
    return int(text)


def order_embed_target(embed_url: str, public_url: str) -> tuple[str, int | None] | None:
    """The order handle and attempt (None: the latest) of one of this server's order embed
    URLs (``.../embed/orders/<handle>?fulfillment-attempt=N``, as HyperTrack's), else None."""
    found = _embed_path(embed_url, public_url, "orders")
    if found is None:
        return None
    handle, query = found
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == ATTEMPT_PARAM]
    try:
        return handle, _attempt(values[-1] if values else None)
    except ValueError:
        return None


def _with_param(url: str, name: str, value: str) -> str:
    """``url`` with its query parameter ``name`` set to ``value`` (earlier ones replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


@router.post("/oauth/embed-token", response_model=EmbedToken,
             responses={**R400, **R401, **R404, **R422})
def issue_embed_token(body: EmbedTokenRequest, account: CurrentAccount, session: ReadSession,
                      settings: SettingsDep, response: Response) -> EmbedToken:
    """Sign a route's embed URL so that it opens without credentials, until it expires."""
    if body.grant_type != "client_credentials":
        raise CodedError(400, "validation_error", "Unsupported grant_type",
                         {"description": "grant_type must be client_credentials"})
    if not body.embed_url:
        raise CodedError(400, "validation_error", "Missing embed_url",
                         {"description": "embed_url is required"})
    handle = embed_handle(body.embed_url, settings.public_url)
    if handle is None:
        target = order_embed_target(body.embed_url, settings.public_url)
        if target is None:
            raise CodedError(400, "validation_error", "Not an embed URL",
                             {"description": "embed_url must be a route's embed_url "
                                             "(.../embed/routes/<route_handle>) or an order's "
                                             "(.../embed/orders/<order_handle>"
                                             "?fulfillment-attempt=N)"})
        return _order_embed_token(body.embed_url, target, account.account_id, session,
                                  settings, response)
    if routes_repository.get_route(session, account.account_id, handle, lock=False) is None:
        raise HttpError(404, "Route not found",
                        {"description": f"Route not found for handle {handle}"})
    row = session.get(Account, account.account_id)
    assert row is not None
    # An explicit token request gets exactly expires_in, unlike the rounded embed_url links.
    token = tokens.issue_embed_token(settings, account_id=row.account_id,
                                     secret_version=row.secret_version,
                                     route_handle=handle)
    response.headers["Cache-Control"] = "no-store"
    plain = without_token(body.embed_url)
    return EmbedToken(access_token=token, expires_in=settings.views.embed_token_ttl_s,
                      embed_url=plain, secure_embed_url=with_token(plain, token))


def _order_embed_token(embed_url: str, target: tuple[str, int | None], account_id: str,
                       session: Any, settings: Settings, response: Response) -> EmbedToken:
    """Sign an order attempt's embed URL (the latest attempt when it names none)."""
    handle, attempt = target
    order = views_repository.order_attempt(session, account_id, handle, attempt)
    if order is None:
        raise HttpError(404, "Order not found",
                        {"description": f"Order not found for handle {handle}"})
    row = session.get(Account, account_id)
    assert row is not None
    token = tokens.issue_order_embed_token(
        settings, account_id=row.account_id, secret_version=row.secret_version,
        order_handle=order.order_handle, fulfillment_attempt=order.fulfillment_attempt)
    response.headers["Cache-Control"] = "no-store"
    plain = _with_param(without_token(embed_url), ATTEMPT_PARAM,
                        str(order.fulfillment_attempt))
    return EmbedToken(access_token=token, expires_in=settings.views.embed_token_ttl_s,
                      embed_url=plain, secure_embed_url=with_token(plain, token))


# --- shared helpers of the pages ----------------------------------------------------------

def _app_parts(request: Request) -> tuple[Settings, Database]:
    return request.app.state.settings, request.app.state.db


def _tile_source(settings: Settings) -> str:
    """The CSP source of the tile server (``'self'`` when tiles are served from here)."""
    parts = urlsplit(settings.views.tile_url)
    if not parts.scheme or not parts.netloc:
        return "'self'"
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def _headers(settings: Settings, *, framed: bool) -> dict[str, str]:
    """Security headers of a page: own scripts only, tiles from the tile server, no token
    in the Referer that tile requests carry, and framing only where embedding is the point."""
    policy = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              f"img-src 'self' data: {_tile_source(settings)}; connect-src 'self'; "
              "base-uri 'none'; form-action 'self'")
    if not framed:
        policy += "; frame-ancestors 'none'"
    return {"Content-Security-Policy": policy, "Referrer-Policy": "strict-origin-when-cross-origin",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


# Route lines and times computed from OpenStreetMap data (ODbL) must credit it, with or
# without map tiles: the map's attribution says so whenever travel runs on the road network.
ROAD_ATTRIBUTION = ('Routes: <a href="https://project-osrm.org/">OSRM</a>, road data '
                    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap'
                    '</a> contributors (ODbL)')


def _road_attribution(request: Request) -> str:
    travel = getattr(request.app.state, "travel", None)
    return ROAD_ATTRIBUTION if getattr(travel, "kind", None) == "road" else ""


def _page(request: Request, name: str, context: dict[str, Any], *, framed: bool = False,
          status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    settings, _ = _app_parts(request)
    base = {"tile_url": settings.views.tile_url,
            "tile_attribution": settings.views.tile_attribution, "v": asset_version(),
            "road_attribution": _road_attribution(request)}
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code,
        headers={**_headers(settings, framed=framed), **(headers or {})})
    assert isinstance(response, HTMLResponse)
    return response


def _error_page(request: Request, status_code: int, title: str, message: str,
                headers: dict[str, str] | None = None) -> HTMLResponse:
    return _page(request, "error.html", {"title": title, "message": message},
                 framed=True, status_code=status_code, headers=headers)


def _challenge(request: Request) -> HTMLResponse:
    return _error_page(request, 401, "Sign in",
                       "Sign in with your AccountID and SecretKey, or open a signed link.",
                       headers={"WWW-Authenticate": 'Basic realm="routekeeper"'})


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _json_response(payload: str) -> Response:
    return Response(payload, media_type="application/json",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _api_error(error: ApiError) -> Response:
    return Response(json.dumps(error.body), status_code=error.status_code,
                    media_type="application/json", headers=error.headers)


# --- live streams -------------------------------------------------------------------------

def _hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live_hub
    return hub


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _admit(request: Request, key: tuple[str, ...]) -> Response | None:
    """None when one more stream of ``key`` fits the caps, else the 429 or 503 refusal."""
    try:
        _hub(request).admit(key, _client(request))
    except StreamRefused as refused:
        return Response(json.dumps({"detail": {"description": refused.reason},
                                    "message": "Too many live streams"}),
                        status_code=refused.status, media_type="application/json",
                        headers={"Retry-After": str(LIVE_RETRY_AFTER_S)})
    return None


def _marks(db: Database, keys: list[Any]) -> dict[Any, Any]:
    with db.read() as session:
        return views_repository.change_marks(session, keys)


# --- the route embed ----------------------------------------------------------------------

def _embed_payload(db: Database, account_id: str, handle: str) -> str | None:
    """The embed's live state as JSON text: the map data and the rendered side panel."""
    with db.read() as session:
        view = service.embed_view(session, account_id, handle, now=utcnow())
    if view is None:
        return None
    panel = templates.get_template("_embed_panel.html").render(view["panel"])
    return _json({"map": view["map"], "panel": panel})


def _token_account(request: Request, handle: str) -> str | Response:
    """The account an embed token in the query grants ``handle`` of, or the JSON refusal."""
    settings, db = _app_parts(request)
    token = request.query_params.get("token")
    if not token:
        return _api_error(HttpError(401, "Authentication error",
                                    {"description": "Missing embed token."}))
    with db.read() as session:
        account_id = (check_embed_token(session, settings, token, handle)
                      if _valid_key(handle, 200) else None)
    if account_id is None:
        return _api_error(HttpError(403, "Forbidden",
                                    {"description": "Invalid or expired embed token."}))
    return account_id


def _embed_page(request: Request, handle: str) -> Response:
    settings, db = _app_parts(request)
    token = request.query_params.get("token")
    with db.read() as session:
        if token:
            account_id = (check_embed_token(session, settings, token, handle)
                          if _valid_key(handle, 200) else None)
            if account_id is None:
                return _error_page(request, 403, "Link expired or invalid",
                                   "This route link has expired or is not valid. "
                                   "Ask for a new one.")
        else:
            try:
                account_id = current_account(request, None, None).account_id
            except HttpError:
                return _challenge(request)
            account = session.get(Account, account_id)
            assert account is not None
            token = account_token(settings, account, handle)
        view = (service.embed_view(session, account_id, handle, now=utcnow())
                if _valid_key(handle, 200) else None)
    if view is None:
        return _error_page(request, 404, "Route not found", "There is no such route.")
    base = f"/embed/routes/{quote(handle, safe='')}"
    return _page(request, "embed.html", {
        "route": view["panel"]["route"], "stops": view["panel"]["stops"], "map": view["map"],
        "events_url": f"{base}/events?token={token}",
    }, framed=True)


async def embed_page(request: Request) -> Response:
    """The ops view of one route: map, stops with ETAs and risks, live position."""
    return await run_in_threadpool(_embed_page, request, request.path_params["route_handle"])


async def embed_state(request: Request) -> Response:
    """The embed's current state as JSON (token only)."""
    handle = request.path_params["route_handle"]
    access = await run_in_threadpool(_token_account, request, handle)
    if isinstance(access, Response):
        return access
    payload = await run_in_threadpool(_embed_payload, request.app.state.db, access, handle)
    if payload is None:
        return _api_error(HttpError(404, "Route not found"))
    return _json_response(payload)


async def embed_events(request: Request) -> Response:
    """The embed's state as server-sent events, on every change (token only)."""
    handle = request.path_params["route_handle"]
    access = await run_in_threadpool(_token_account, request, handle)
    if isinstance(access, Response):
        return access
    key = ("embed", access, handle)
    refused = _admit(request, key)
    if refused is not None:
        return refused
    build = partial(_embed_payload, request.app.state.db, access, handle)
    first = _hub(request).current(key) or await run_in_threadpool(build)
    if first is None:
        return _api_error(HttpError(404, "Route not found"))
    return event_stream(_hub(request), key, build, first, _client(request))


# --- the order embed ----------------------------------------------------------------------

def _order_embed_payload(db: Database, account_id: str, handle: str, attempt: int) -> str | None:
    """The order embed's live state as JSON text: the map data and the rendered panel."""
    with db.read() as session:
        view = order_embed_view(session, account_id, handle, attempt, now=utcnow())
    if view is None:
        return None
    panel = templates.get_template("_order_embed_panel.html").render({"order": view["panel"]})
    return _json({"map": view["map"], "panel": panel})


def _order_access(request: Request, handle: str) -> tuple[str, int] | Response:
    """The account and attempt an order embed token in the query grants, or the refusal."""
    settings, db = _app_parts(request)
    token = request.query_params.get("token")
    if not token:
        return _api_error(HttpError(401, "Authentication error",
                                    {"description": "Missing embed token."}))
    try:
        asked = _attempt(request.query_params.get(ATTEMPT_PARAM))
    except ValueError:
        asked = -1
    with db.read() as session:
        granted = (check_order_embed_token(session, settings, token, handle)
                   if _valid_key(handle, 200) else None)
    if granted is None or asked not in (None, granted[1]):
        return _api_error(HttpError(403, "Forbidden",
                                    {"description": "Invalid or expired embed token."}))
    return granted


def _order_embed_page(request: Request, handle: str) -> Response:
    settings, db = _app_parts(request)
    token = request.query_params.get("token")
    try:
        attempt = _attempt(request.query_params.get(ATTEMPT_PARAM))
    except ValueError:
        return _error_page(request, 404, "Order not found", "There is no such order.")
    with db.read() as session:
        if token:
            granted = (check_order_embed_token(session, settings, token, handle)
                       if _valid_key(handle, 200) else None)
            if granted is None or attempt not in (None, granted[1]):
                return _error_page(request, 403, "Link expired or invalid",
                                   "This order link has expired or is not valid. "
                                   "Ask for a new one.")
            account_id, attempt = granted
        else:
            try:
                account_id = current_account(request, None, None).account_id
            except HttpError:
                return _challenge(request)
        view = (order_embed_view(session, account_id, handle, attempt, now=utcnow())
                if _valid_key(handle, 200) else None)
        if view is not None and not token:
            account = session.get(Account, account_id)
            assert account is not None
            token = tokens.issue_order_embed_token(
                settings, account_id=account_id, secret_version=account.secret_version,
                order_handle=handle, fulfillment_attempt=view["panel"]["fulfillment_attempt"])
    if view is None:
        return _error_page(request, 404, "Order not found", "There is no such order.")
    attempt_text = view["panel"]["fulfillment_attempt"]
    return _page(request, "order_embed.html", {
        "order": view["panel"], "map": view["map"],
        "events_url": f"/embed/orders/{quote(handle, safe='')}/events?"
                      f"{ATTEMPT_PARAM}={attempt_text}&token={token}",
    }, framed=True)


async def order_embed_page(request: Request) -> Response:
    """The ops view of one order: its state, its timeline, and the worker while on the way."""
    return await run_in_threadpool(_order_embed_page, request,
                                   request.path_params["order_handle"])


async def order_embed_state(request: Request) -> Response:
    """The order embed's current state as JSON (token only)."""
    handle = request.path_params["order_handle"]
    access = await run_in_threadpool(_order_access, request, handle)
    if isinstance(access, Response):
        return access
    account_id, attempt = access
    payload = await run_in_threadpool(_order_embed_payload, request.app.state.db, account_id,
                                      handle, attempt)
    if payload is None:
        return _api_error(HttpError(404, "Order not found"))
    return _json_response(payload)


async def order_embed_events(request: Request) -> Response:
    """The order embed's state as server-sent events, on every change (token only)."""
    handle = request.path_params["order_handle"]
    access = await run_in_threadpool(_order_access, request, handle)
    if isinstance(access, Response):
        return access
    account_id, attempt = access
    key = ("embed-order", account_id, handle, str(attempt))
    refused = _admit(request, key)
    if refused is not None:
        return refused
    build = partial(_order_embed_payload, request.app.state.db, account_id, handle, attempt)
    first = _hub(request).current(key) or await run_in_threadpool(build)
    if first is None:
        return _api_error(HttpError(404, "Order not found"))
    return event_stream(_hub(request), key, build, first, _client(request))


# --- the share page -----------------------------------------------------------------------

def _share_view(db: Database, tracking_id: str) -> dict[str, Any] | None:
    if not _valid_key(tracking_id, 64):
        return None
    with db.read() as session:
        return service.share_view(session, tracking_id, now=utcnow())


def _share_payload(db: Database, tracking_id: str) -> str | None:
    """The share page's live state as JSON text: this order only."""
    view = _share_view(db, tracking_id)
    if view is None:
        return None
    panel = templates.get_template("_share_panel.html").render({"order": view["panel"]})
    return _json({"map": view["map"], "panel": panel, "order": view["panel"]})


async def share_page(request: Request) -> Response:
    """The customer's page of one order: status, ETA, and the worker only on the way here."""
    tracking_id = request.path_params["tracking_id"]
    view = await run_in_threadpool(_share_view, request.app.state.db, tracking_id)
    if view is None:
        return _error_page(request, 404, "Not found", "This tracking link is not valid.")
    return _page(request, "share.html", {
        "order": view["panel"], "map": view["map"],
        "events_url": f"/t/{quote(tracking_id, safe='')}/events"}, framed=True)


async def share_state(request: Request) -> Response:
    """The share page's current state as JSON."""
    payload = await run_in_threadpool(_share_payload, request.app.state.db,
                                      request.path_params["tracking_id"])
    if payload is None:
        return _api_error(HttpError(404, "Tracking not found"))
    return _json_response(payload)


async def share_events(request: Request) -> Response:
    """The share page's state as server-sent events, on every change."""
    tracking_id = request.path_params["tracking_id"]
    key = ("share", tracking_id)
    # The caps come first: the link is public, so a refused stream costs no database work.
    refused = _admit(request, key)
    if refused is not None:
        return refused
    build = partial(_share_payload, request.app.state.db, tracking_id)
    first = _hub(request).current(key) or await run_in_threadpool(build)
    if first is None:
        return _api_error(HttpError(404, "Tracking not found"))
    return event_stream(_hub(request), key, build, first, _client(request))


# --- the plans board ----------------------------------------------------------------------

def _board_page(request: Request) -> Response:
    settings, db = _app_parts(request)
    try:
        account_id = current_account(request, None, None).account_id
    except HttpError:
        return _challenge(request)
    day_text = request.query_params.get("date")
    day: date | None = board.parse_day(day_text)
    with db.read() as session:
        account = session.get(Account, account_id)
        assert account is not None

        def link(handle: str) -> str:
            return (f"/embed/routes/{quote(handle, safe='')}"
                    f"?token={account_token(settings, account, handle)}")

        view = board.board_view(session, account_id, day=day,
                                group_handle=request.query_params.get("ops_group"),
                                now=utcnow(), embed_link=link)
    notice = "Not a date: showing today." if day_text and day is None else None
    return _page(request, "board.html", {**view, "notice": notice, "map": {
        "routes": [{"handle": r["route_handle"], "colour": r["colour"], "line": r["line"],
                    "points": r["points"], "link": r["link"]}
                   for p in view["plans"] for r in p["routes"]],
        "unplanned": [{"point": o["point"], "title": f"{o['order_handle']}: {o['reason']}"}
                      for p in view["plans"] for o in p["unplanned"] if o["point"]],
    }})


async def board_page(request: Request) -> Response:
    """Ops: one ops group's plans of a day, their routes on a map, and unplanned orders."""
    return await run_in_threadpool(_board_page, request)


PAGES: list[tuple[str, Callable[[Request], Any], str]] = [
    ("/embed/routes/{route_handle}", embed_page, "views_embed"),
    ("/embed/routes/{route_handle}/state", embed_state, "views_embed_state"),
    ("/embed/routes/{route_handle}/events", embed_events, "views_embed_events"),
    ("/embed/orders/{order_handle}", order_embed_page, "views_order_embed"),
    ("/embed/orders/{order_handle}/state", order_embed_state, "views_order_embed_state"),
    ("/embed/orders/{order_handle}/events", order_embed_events, "views_order_embed_events"),
    ("/t/{tracking_id}", share_page, "views_share"),
    ("/t/{tracking_id}/state", share_state, "views_share_state"),
    ("/t/{tracking_id}/events", share_events, "views_share_events"),
    ("/board", board_page, "views_board"),
]


def install(app: FastAPI) -> None:
    """Serve the views: the embed-token operation, the pages with their state and streams,
    their static files and Leaflet."""
    views = app.state.settings.views
    app.state.live_hub = LiveHub(partial(_marks, app.state.db),
                                 per_view=views.max_streams_per_view,
                                 per_client=views.max_streams_per_client,
                                 total=views.max_streams)
    app.include_router(router)
    for path, endpoint, name in PAGES:
        app.router.add_route(path, endpoint, methods=["GET"], name=name,
                             include_in_schema=False)
    app.mount("/static/views", CachedStaticFiles(directory=STATIC_DIR), name="views_static")
    leaflet = leaflet_dir()
    if leaflet is None:
        log.warning("Leaflet is not installed (run `make install`): maps will not draw")
    else:
        app.mount("/static/leaflet", CachedStaticFiles(directory=leaflet),
                  name="views_leaflet")
