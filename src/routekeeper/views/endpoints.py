"""The browser views' wiring: the route and order embeds (ops), the share page (customers),
the plans board, and ``POST /oauth/embed-token``.

``POST /oauth/embed-token`` is an API operation (contract 1.1) and is documented. The pages,
their JSON state and their event streams are not API operations: they are plain Starlette
routes outside the OpenAPI document, and answer HTML (or JSON for the state) themselves. Each
page lives in its own module (``route_page``, ``order_page``, ``share_page``, ``board_page``);
their live state is served by one ``feeds.Feed`` each.

Access: the embed takes a signed embed token (``?token=``) or, without one, the account's
HTTP Basic credentials; the share page is public and scoped to its tracking id; the board
takes HTTP Basic credentials like the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI, Request

from routekeeper.views import order_page, route_page, share_page
from routekeeper.views.assets import STATIC_DIR, CachedStaticFiles, leaflet_dir
from routekeeper.views.board_page import board_page
from routekeeper.views.embed_token import router
from routekeeper.views.feeds import change_marks
from routekeeper.views.live import LiveHub

log = logging.getLogger(__name__)

PAGES: list[tuple[str, Callable[[Request], Any], str]] = [
    ("/embed/routes/{route_handle}", route_page.embed_page, "views_embed"),
    ("/embed/routes/{route_handle}/state", route_page.FEED.state, "views_embed_state"),
    ("/embed/routes/{route_handle}/events", route_page.FEED.events, "views_embed_events"),
    ("/embed/orders/{order_handle}", order_page.order_embed_page, "views_order_embed"),
    ("/embed/orders/{order_handle}/state", order_page.FEED.state, "views_order_embed_state"),
    ("/embed/orders/{order_handle}/events", order_page.FEED.events,
     "views_order_embed_events"),
    ("/t/{tracking_id}", share_page.share_page, "views_share"),
    ("/t/{tracking_id}/state", share_page.FEED.state, "views_share_state"),
    ("/t/{tracking_id}/events", share_page.FEED.events, "views_share_events"),
    ("/board", board_page, "views_board"),
]


def install(app: FastAPI) -> None:
    """Serve the views: the embed-token operation, the pages with their state and streams,
    their static files and Leaflet."""
    views = app.state.settings.views
    app.state.live_hub = LiveHub(partial(change_marks, app.state.db),
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
