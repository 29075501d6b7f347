"""What every page of the views shares: rendering with the page's security headers, the
error pages, the account behind HTTP Basic credentials, and the JSON answers of the state
and event URLs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from routekeeper.accounts.auth import current_account
from routekeeper.core.errors import ApiError, HttpError
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.views.assets import asset_version, templates

# Route lines and times computed from OpenStreetMap data (ODbL) must credit it, with or
# without map tiles: the map's attribution says so whenever travel runs on the road network.
ROAD_ATTRIBUTION = ('Routes: <a href="https://project-osrm.org/">OSRM</a>, road data '
                    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap'
                    '</a> contributors (ODbL)')


def valid_key(text: str, max_length: int) -> bool:
    """Whether ``text`` can name a row: printable, storable, and not too long."""
    if not 0 < len(text) <= max_length or not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def app_parts(request: Request) -> tuple[Settings, Database]:
    """The app's settings and database (the pages are plain routes, without dependencies)."""
    return request.app.state.settings, request.app.state.db


def signed_in(request: Request) -> str | None:
    """The account whose HTTP Basic credentials the request carries, else None."""
    try:
        return current_account(request, None, None).account_id
    except HttpError:
        return None


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


def _road_attribution(request: Request) -> str:
    travel = getattr(request.app.state, "travel", None)
    return ROAD_ATTRIBUTION if getattr(travel, "kind", None) == "road" else ""


def page(request: Request, name: str, context: dict[str, Any], *, framed: bool = False,
         status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render the template ``name`` with the map's settings and the page's headers."""
    settings, _ = app_parts(request)
    base = {"tile_url": settings.views.tile_url,
            "tile_attribution": settings.views.tile_attribution, "v": asset_version(),
            "road_attribution": _road_attribution(request)}
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code,
        headers={**_headers(settings, framed=framed), **(headers or {})})
    assert isinstance(response, HTMLResponse)
    return response


def error_page(request: Request, status_code: int, title: str, message: str,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page that says what went wrong (framed: it may stand where an embed would)."""
    return page(request, "error.html", {"title": title, "message": message},
                framed=True, status_code=status_code, headers=headers)


def challenge(request: Request) -> HTMLResponse:
    """The 401 page that asks the browser for the account's credentials."""
    return error_page(request, 401, "Sign in",
                      "Sign in with your AccountID and SecretKey, or open a signed link.",
                      headers={"WWW-Authenticate": 'Basic realm="routekeeper"'})


def link_refused(request: Request, what: str) -> HTMLResponse:
    """The 403 page of a signed link (to a ``what``) that has expired or is not valid."""
    return error_page(request, 403, "Link expired or invalid",
                      f"This {what} link has expired or is not valid. Ask for a new one.")


def to_json(data: Any) -> str:
    """Compact JSON on one line (an SSE data field) with sorted keys: an unchanged state
    gives the same text, which the live hub does not send again."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def json_response(payload: str) -> Response:
    """A state (JSON text) as an uncached response."""
    return Response(payload, media_type="application/json",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def api_error(error: ApiError) -> Response:
    """An API error in the contract's shape (the pages are outside the API's handlers)."""
    return Response(json.dumps(error.body), status_code=error.status_code,
                    media_type="application/json", headers=error.headers)
