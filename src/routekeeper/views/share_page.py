"""The share page (``/t/<tracking_id>``): the customer's page of one order, public and
scoped to its tracking id: status, ETA, and the worker only while on the way here."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from routekeeper.core.clock import utcnow
from routekeeper.db.engine import Database
from routekeeper.views import service
from routekeeper.views.assets import templates
from routekeeper.views.feeds import Feed
from routekeeper.views.pages import error_page, page, to_json, valid_key


def _view(db: Database, tracking_id: str) -> dict[str, Any] | None:
    if not valid_key(tracking_id, 64):
        return None
    with db.read() as session:
        return service.share_view(session, tracking_id, now=utcnow())


def _payload(db: Database, tracking_id: str) -> str | None:
    """The share page's live state as JSON text: this order only."""
    view = _view(db, tracking_id)
    if view is None:
        return None
    panel = templates.get_template("_share_panel.html").render({"order": view["panel"]})
    return to_json({"map": view["map"], "panel": panel, "order": view["panel"]})


async def _access(request: Request) -> tuple[str]:
    """Anyone with the link: the tracking id is the only key."""
    return (request.path_params["tracking_id"],)


FEED = Feed("share", "Tracking not found", _access, _payload)


async def share_page(request: Request) -> Response:
    """The customer's page of one order: status, ETA, and the worker only on the way here."""
    tracking_id = request.path_params["tracking_id"]
    view = await run_in_threadpool(_view, request.app.state.db, tracking_id)
    if view is None:
        return error_page(request, 404, "Not found", "This tracking link is not valid.")
    return page(request, "share.html", {
        "order": view["panel"], "map": view["map"],
        "events_url": f"/t/{quote(tracking_id, safe='')}/events"}, framed=True)
