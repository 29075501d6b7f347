"""The path of one order, shared by the endpoint modules of orders, order tasks and webhooks."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from starlette.convertors import StringConvertor, register_url_convertor

# Literal segments of other /orders/ operations (contract 1.2): they must win over
# /orders/{order_handle}, so an order handle never matches them (an order with such a
# handle exists but is unreachable, as on HyperTrack). Without this, GET /orders/track
# would be answered "Order not found" instead of 405.
LITERAL_SEGMENTS = ("plans", "routes", "track", "export", "estimate", "tasks-definitions",
                    "estimated-routes")


class OrderHandleConvertor(StringConvertor):
    """A path segment that is not one of the literal ``/orders/<segment>`` paths."""

    regex = "(?!(?:" + "|".join(re.escape(s) for s in LITERAL_SEGMENTS) + ")(?:/|$))[^/]+"


register_url_convertor("order_handle", OrderHandleConvertor())
ORDER = "/orders/{order_handle:order_handle}"


def document_unreachable_handles(routes: list[Any]) -> None:
    """Say in the OpenAPI document that a handle equal to a literal segment answers 405.

    ``POST /orders/export/reschedule`` is the export-status path with the wrong method, not
    the order "export" (which no path can reach), so it is answered 405; a client generated
    from the document must know that answer exists.
    """
    for route in routes:
        if isinstance(route, APIRoute) and "{order_handle:order_handle}" in route.path:
            # No "model": FastAPI sizes a route's response fields when the route is made;
            # the HTTPError schema is in the document already through other operations.
            route.responses.setdefault(405, {
                "description": "Method not allowed: the handle is one of the literal "
                               "/orders/ segments (" + ", ".join(LITERAL_SEGMENTS) + ")",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/HTTPErrorBody"}}},
            })
